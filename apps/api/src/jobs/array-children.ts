import type { EntityManager } from 'typeorm';
import { settleArrayParents, settleDependants } from '#libs/db';

export interface ArrayDependencies {
  /** Jobs every child waits for (the array's own dependsOn without a type); their state decides the children's start. */
  plain: string[];
  plainState: 'RUNNABLE' | 'PENDING';
  plainReason: string;
  /** N_TO_N: child i waits for child i of this array. */
  nToN?: string;
  /** SEQUENTIAL: child i waits for child i-1. */
  sequential: boolean;
}

/**
 * Creates an array's children in a few set-based statements, so that even
 * 10,000 of them commit in one short transaction: ids `<parent>:<index>`,
 * GPUBATCH_ARRAY_INDEX in their environment, each RUNNABLE, PENDING or
 * (behind a failed N_TO_N partner) FAILED from the start. Returns whether
 * any child is RUNNABLE.
 */
export async function insertArrayChildren(tx: EntityManager, parentId: string, size: number, deps: ArrayDependencies): Promise<boolean> {
  await tx.query(
    `INSERT INTO jobs (id, name, queue, definition_id, status, status_reason, priority, image, command, environment,
                       vcpus, memory_mib, gpus, gpu_model, label_selector, timeout_seconds, max_attempts, project, tags,
                       interruptible, retry_rules, parent_id, array_index, created_at, updated_at, stopped_at, container, secret_environment, parameters)
     SELECT p.id || ':' || i,
            p.name, p.queue, p.definition_id, c.status, c.reason, p.priority, p.image, p.command,
            p.environment || jsonb_build_object('GPUBATCH_ARRAY_INDEX', i::text),
            p.vcpus, p.memory_mib, p.gpus, p.gpu_model, p.label_selector, p.timeout_seconds, p.max_attempts, p.project, p.tags,
            p.interruptible, p.retry_rules, p.id, i,
            -- One microsecond apart: FIFO order among children follows their index.
            p.created_at + i * interval '1 microsecond', p.created_at + i * interval '1 microsecond',
            CASE WHEN c.status = 'FAILED' THEN clock_timestamp() END, p.container, p.secret_environment, p.parameters
     FROM jobs p
     CROSS JOIN generate_series(0, $2 - 1) AS i
     LEFT JOIN jobs partner ON partner.id = $3 || ':' || i
     CROSS JOIN LATERAL (SELECT
       CASE WHEN partner.status = 'FAILED' THEN 'FAILED'
            WHEN $4::varchar = 'RUNNABLE' AND (partner.id IS NULL OR partner.status = 'SUCCEEDED') AND (NOT $5 OR i = 0) THEN 'RUNNABLE'
            ELSE 'PENDING' END AS status,
       CASE WHEN partner.status = 'FAILED' THEN 'Dependent job ' || partner.id || ' failed'
            WHEN $4::varchar = 'PENDING' THEN $6::text
            WHEN partner.id IS NOT NULL AND partner.status <> 'SUCCEEDED' THEN 'DEPENDENCY: waiting for ' || partner.id
            WHEN $5 AND i > 0 THEN 'DEPENDENCY: waiting for ' || p.id || ':' || (i - 1)
            ELSE 'Waiting for the scheduler' END AS reason) c
     WHERE p.id = $1`,
    [parentId, size, deps.nToN ?? '', deps.plainState, deps.sequential, deps.plainReason],
  );
  await tx.query(
    `INSERT INTO job_dependencies (job_id, depends_on)
     SELECT $1 || ':' || i, d FROM generate_series(0, $2 - 1) AS i, unnest($3::varchar[]) AS d
     UNION ALL SELECT $1 || ':' || i, $4 || ':' || i FROM generate_series(0, $2 - 1) AS i WHERE $4 <> ''
     UNION ALL SELECT $1 || ':' || i, $1 || ':' || (i - 1) FROM generate_series(1, $2 - 1) AS i WHERE $5`,
    [parentId, size, deps.plain, deps.nToN ?? '', deps.sequential],
  );
  await tx.query(
    `INSERT INTO job_events (job_id, at, from_status, to_status, reason)
     SELECT id, created_at, NULL, 'SUBMITTED', 'Job submitted' FROM jobs WHERE parent_id = $1
     UNION ALL
     SELECT id, created_at, 'SUBMITTED', status, status_reason FROM jobs WHERE parent_id = $1`,
    [parentId],
  );
  const failed: { id: string }[] = await tx.query(`SELECT id FROM jobs WHERE parent_id = $1 AND status = 'FAILED'`, [parentId]);
  if (failed.length) {
    // Children behind a failed partner failed at once: what follows them (SEQUENTIAL) fails too, and maybe the parent.
    await settleDependants(tx, failed.map((f) => f.id));
    await settleArrayParents(tx, [parentId]);
  }
  const [{ runnable }] = await tx.query(`SELECT count(*)::int AS runnable FROM jobs WHERE parent_id = $1 AND status = 'RUNNABLE'`, [parentId]);
  return runnable > 0;
}
