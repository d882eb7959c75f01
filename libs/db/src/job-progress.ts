import type { DataSource, EntityManager } from 'typeorm';

// Reasons list at most this many of the jobs still awaited.
const LISTED = 10;

type Db = DataSource | EntityManager;

/**
 * Moves waiting work on after jobs finish, until nothing more changes:
 * PENDING jobs whose dependencies all succeeded become RUNNABLE; those with
 * a failed dependency fail (`Dependent job <id> failed`); array parents whose
 * children have all finished succeed or fail; and every finish found this
 * way is followed in turn. `finished` scopes the work to what depends on
 * those jobs; without it every PENDING job is checked (the leader's periodic
 * sweep, which repairs anything a crash left half done). Returns the jobs
 * that became RUNNABLE.
 */
export async function settleDependants(db: Db, finished?: string[]): Promise<string[]> {
  const runnable: string[] = [];
  let scope = finished;
  for (let round = 0; round < 10_000; round++) {
    const all = scope === undefined;
    const ids = scope ?? [];
    const promoted: { job_id: string }[] = await db.query(
      `WITH ready AS (
         SELECT j.id FROM jobs j
         WHERE j.status = 'PENDING' AND j.array_size IS NULL
           AND ($2 OR j.id IN (SELECT job_id FROM job_dependencies WHERE depends_on = ANY($1)))
           AND EXISTS (SELECT 1 FROM job_dependencies d WHERE d.job_id = j.id)
           AND NOT EXISTS (SELECT 1 FROM job_dependencies d JOIN jobs x ON x.id = d.depends_on
                           WHERE d.job_id = j.id AND x.status <> 'SUCCEEDED')),
       upd AS (
         UPDATE jobs SET status = 'RUNNABLE', status_reason = 'Waiting for the scheduler', updated_at = clock_timestamp()
         WHERE id IN (SELECT id FROM ready) AND status = 'PENDING' RETURNING id)
       INSERT INTO job_events (job_id, from_status, to_status, reason)
       SELECT id, 'PENDING', 'RUNNABLE', 'All dependencies succeeded' FROM upd RETURNING job_id`,
      [ids, all],
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
      [ids, all],
    );
    await describeWaits(db, ids, all);
    const parents = await settleArrayParents(db, [...ids, ...failed.map((r) => r.job_id)], all);
    const next = [...failed.map((r) => r.job_id), ...parents];
    if (next.length === 0) break;
    scope = next;
  }
  return runnable;
}

/** Still waiting: say on what (the first ten, then a count). */
export async function describeWaits(db: Db, finished: string[], all: boolean): Promise<void> {
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
    [finished, all],
  );
}

/**
 * Finishes array parents whose children have all finished: SUCCEEDED when
 * every child did, FAILED otherwise. `children` scopes it to the parents of
 * those jobs (or of those job ids' own children when they are parents).
 * Returns the parents that finished.
 */
export async function settleArrayParents(db: Db, children: string[], all = false): Promise<string[]> {
  const done: { job_id: string }[] = await db.query(
    `WITH candidates AS (
       SELECT p.id, p.array_size FROM jobs p
       WHERE p.array_size IS NOT NULL AND p.status = 'PENDING'
         AND ($2 OR p.id IN (SELECT parent_id FROM jobs WHERE id = ANY($1) AND parent_id IS NOT NULL) OR p.id = ANY($1))
       FOR UPDATE),
     counts AS (
       SELECT c.id, count(*) FILTER (WHERE k.status NOT IN ('SUCCEEDED', 'FAILED')) AS open,
              count(*) FILTER (WHERE k.status = 'FAILED') AS failed
       FROM candidates c JOIN jobs k ON k.parent_id = c.id GROUP BY c.id),
     upd AS (
       UPDATE jobs p SET status = CASE WHEN counts.failed = 0 THEN 'SUCCEEDED' ELSE 'FAILED' END,
              status_reason = CASE WHEN counts.failed = 0 THEN 'All ' || p.array_size || ' children succeeded'
                                   ELSE counts.failed || ' of ' || p.array_size || ' children failed' END,
              stopped_at = clock_timestamp(), updated_at = clock_timestamp()
       FROM counts WHERE p.id = counts.id AND counts.open = 0 AND p.status = 'PENDING'
       RETURNING p.id, p.status, p.status_reason)
     INSERT INTO job_events (job_id, from_status, to_status, reason)
     SELECT id, 'PENDING', status, status_reason FROM upd RETURNING job_id`,
    [children, all],
  );
  return done.map((r) => r.job_id);
}
