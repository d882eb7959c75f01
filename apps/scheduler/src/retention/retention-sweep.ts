import type { DataSource } from 'typeorm';

/** Jobs removed per statement: a sweep never holds locks on a whole history at once. */
const BATCH = 1000;

/**
 * Removes finished jobs (SUCCEEDED or FAILED before `cutoff`) with their
 * attempts, events, logs and dependency edges. An array goes with its
 * parent: children are removed only when the parent is. Usage rows are
 * never removed; they keep the job's id, project, queue and tags.
 * Returns how many jobs were removed (at most `limit`).
 */
export async function sweepFinishedJobs(db: DataSource, cutoff: Date, limit = 10_000): Promise<number> {
  let removed = 0;
  while (removed < limit) {
    const n: number = await db.transaction(async (tx) => {
      const rows: { id: string }[] = await tx.query(
        `WITH old AS (
           SELECT id FROM jobs
           WHERE status IN ('SUCCEEDED', 'FAILED') AND stopped_at < $1 AND parent_id IS NULL
           ORDER BY stopped_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         SELECT id FROM old UNION ALL SELECT c.id FROM jobs c JOIN old ON c.parent_id = old.id`,
        [cutoff, BATCH],
      );
      if (rows.length === 0) return 0;
      const ids = rows.map((r) => r.id);
      await tx.query(`DELETE FROM job_logs WHERE job_id = ANY($1)`, [ids]);
      await tx.query(`DELETE FROM job_events WHERE job_id = ANY($1)`, [ids]);
      await tx.query(`DELETE FROM job_dependencies WHERE job_id = ANY($1) OR depends_on = ANY($1)`, [ids]);
      await tx.query(`DELETE FROM job_attempts WHERE job_id = ANY($1)`, [ids]);
      await tx.query(`DELETE FROM jobs WHERE id = ANY($1)`, [ids]);
      return ids.length;
    });
    if (n === 0) break;
    removed += n;
  }
  return removed;
}
