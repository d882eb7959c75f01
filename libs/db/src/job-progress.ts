import { DataSource, type EntityManager } from 'typeorm';
import type { JobStatus } from '#libs/core';
import { applyCommands, applyInTransaction, type Applied, type LifecycleCommand } from './job-lifecycle.js';

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
    const ready: { id: string }[] = await db.query(
      `SELECT j.id FROM jobs j
       WHERE j.status = 'PENDING' AND j.array_size IS NULL
         AND ($2 OR j.id IN (SELECT job_id FROM job_dependencies WHERE depends_on = ANY($1)))
         AND EXISTS (SELECT 1 FROM job_dependencies d WHERE d.job_id = j.id)
         AND NOT EXISTS (SELECT 1 FROM job_dependencies d JOIN jobs x ON x.id = d.depends_on
                         WHERE d.job_id = j.id AND x.status <> 'SUCCEEDED')`,
      [ids, all],
    );
    const doomed: { id: string; failed_dependency: string }[] = await db.query(
      `SELECT DISTINCT ON (j.id) j.id, x.id AS failed_dependency
       FROM jobs j JOIN job_dependencies d ON d.job_id = j.id JOIN jobs x ON x.id = d.depends_on
       WHERE j.status = 'PENDING' AND x.status = 'FAILED' AND ($2 OR d.depends_on = ANY($1))
       ORDER BY j.id, x.id`,
      [ids, all],
    );
    const applied = await apply(db, [
      ...ready.map((r): LifecycleCommand => ({ jobId: r.id, command: { type: 'dependencies-succeeded' } })),
      ...doomed.map((r): LifecycleCommand => ({ jobId: r.id, command: { type: 'dependency-failed', dependencyId: r.failed_dependency } })),
    ]);
    runnable.push(...movedTo(applied, 'RUNNABLE'));
    const failed = movedTo(applied, 'FAILED');
    await describeWaits(db, ids, all);
    const parents = await settleArrayParents(db, [...ids, ...failed], all);
    const next = [...failed, ...parents];
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
  const done: { id: string; size: number; failed: number }[] = await db.query(
    `SELECT p.id, p.array_size AS size,
            count(*) FILTER (WHERE k.status = 'FAILED')::int AS failed
     FROM jobs p JOIN jobs k ON k.parent_id = p.id
     WHERE p.array_size IS NOT NULL AND p.status = 'PENDING'
       AND ($2 OR p.id IN (SELECT parent_id FROM jobs WHERE id = ANY($1) AND parent_id IS NOT NULL) OR p.id = ANY($1))
     GROUP BY p.id
     HAVING count(*) FILTER (WHERE k.status NOT IN ('SUCCEEDED', 'FAILED')) = 0`,
    [children, all],
  );
  const applied = await apply(db, done.map((p) => ({ jobId: p.id, command: { type: 'children-finished', size: p.size, failed: p.failed } })));
  return applied.filter((a) => a.transition.outcome === 'applied').map((a) => a.jobId);
}

/** Through the lifecycle writer, in the caller's transaction when there is one. */
function apply(db: Db, commands: LifecycleCommand[]): Promise<Applied[]> {
  if (commands.length === 0) return Promise.resolve([]);
  return db instanceof DataSource ? applyCommands(db, commands) : applyInTransaction(db, commands);
}

function movedTo(applied: Applied[], status: JobStatus): string[] {
  return applied.filter((a) => a.transition.outcome === 'applied' && a.transition.to === status).map((a) => a.jobId);
}
