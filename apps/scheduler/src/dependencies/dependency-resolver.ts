import type { DataSource } from 'typeorm';

// Reasons list at most this many of the jobs still awaited.
const LISTED = 10;

/**
 * Moves PENDING jobs on once their dependencies finish: RUNNABLE when all
 * succeeded, FAILED (`Dependent job <id> failed`) when one failed, and the
 * failure cascades to their own dependants. `finished` scopes the work to
 * the dependants of those jobs; without it every PENDING job is checked (the
 * leader's periodic sweep, which repairs anything a crash left half done).
 * Returns the jobs that became RUNNABLE.
 */
export async function settleDependants(db: DataSource, finished?: string[]): Promise<string[]> {
  const runnable: string[] = [];
  let scope = finished;
  for (let round = 0; round < 1000; round++) {
    const promoted: { job_id: string }[] = await db.query(
      `WITH ready AS (
         SELECT j.id FROM jobs j
         WHERE j.status = 'PENDING' AND j.parent_id IS NULL
           AND ($2 OR j.id IN (SELECT job_id FROM job_dependencies WHERE depends_on = ANY($1)))
           AND EXISTS (SELECT 1 FROM job_dependencies d WHERE d.job_id = j.id)
           AND NOT EXISTS (SELECT 1 FROM job_dependencies d JOIN jobs x ON x.id = d.depends_on
                           WHERE d.job_id = j.id AND x.status <> 'SUCCEEDED')),
       upd AS (
         UPDATE jobs SET status = 'RUNNABLE', status_reason = 'Waiting for the scheduler', updated_at = clock_timestamp()
         WHERE id IN (SELECT id FROM ready) AND status = 'PENDING' RETURNING id)
       INSERT INTO job_events (job_id, from_status, to_status, reason)
       SELECT id, 'PENDING', 'RUNNABLE', 'All dependencies succeeded' FROM upd RETURNING job_id`,
      [scope ?? [], scope === undefined],
    );
    runnable.push(...promoted.map((r) => r.job_id));
    const failed: { job_id: string }[] = await db.query(
      `WITH doomed AS (
         SELECT DISTINCT ON (j.id) j.id, x.id AS failed_dependency
         FROM jobs j JOIN job_dependencies d ON d.job_id = j.id JOIN jobs x ON x.id = d.depends_on
         WHERE j.status = 'PENDING' AND x.status = 'FAILED' AND ($2 OR d.depends_on = ANY($1))
         ORDER BY j.id, x.id),
       upd AS (
         UPDATE jobs j SET status = 'FAILED', status_reason = 'Dependent job ' || doomed.failed_dependency || ' failed',
                stopped_at = clock_timestamp(), updated_at = clock_timestamp()
         FROM doomed WHERE j.id = doomed.id AND j.status = 'PENDING' RETURNING j.id, j.status_reason)
       INSERT INTO job_events (job_id, from_status, to_status, reason)
       SELECT id, 'PENDING', 'FAILED', status_reason FROM upd RETURNING job_id`,
      [scope ?? [], scope === undefined],
    );
    // Still waiting: say on what, now that one of them finished.
    await db.query(
      `UPDATE jobs j SET status_reason = w.reason FROM (
         SELECT d.job_id, 'DEPENDENCY: waiting for ' ||
                array_to_string((array_agg(d.depends_on ORDER BY d.depends_on))[1:${LISTED}], ', ') ||
                CASE WHEN count(*) > ${LISTED} THEN ' and ' || (count(*) - ${LISTED}) || ' more' ELSE '' END AS reason
         FROM job_dependencies d JOIN jobs x ON x.id = d.depends_on JOIN jobs p ON p.id = d.job_id
         WHERE p.status = 'PENDING' AND x.status <> 'SUCCEEDED'
           AND ($2 OR d.job_id IN (SELECT job_id FROM job_dependencies WHERE depends_on = ANY($1)))
         GROUP BY d.job_id) w
       WHERE j.id = w.job_id AND j.status = 'PENDING' AND j.status_reason IS DISTINCT FROM w.reason`,
      [scope ?? [], scope === undefined],
    );
    if (failed.length === 0) break;
    scope = failed.map((r) => r.job_id); // their dependants fail in turn
  }
  return runnable;
}
