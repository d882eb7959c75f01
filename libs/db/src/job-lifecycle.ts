import type { DataSource, EntityManager } from 'typeorm';
import { transition, type Effect, type ExitRule, type JobCommand, type JobSnapshot, type JobStatus, type Transition } from '#libs/core';

/** A scheduler leader's term: its writes hold only while this is still the current epoch. */
export interface Fence {
  epoch: number;
}

/** A write of a deposed leader: a newer one holds the epoch, so this one must stop writing. */
export class FencedError extends Error {
  constructor(readonly epoch: number, readonly current: number) {
    super(`fenced: this scheduler's leadership epoch ${epoch} is over (current ${current})`);
    this.name = 'FencedError';
  }
}

/** One command for one job, with what only its caller knows for the rows it writes. */
export interface LifecycleCommand {
  jobId: string;
  command: JobCommand;
  /** For `place`: the pool and GPU model the attempt is billed by. */
  placement?: { pool: string; gpuModel: string | null };
  /** For reports from a worker: the container it ran in. */
  containerId?: string | null;
}

export interface Applied {
  jobId: string;
  command: JobCommand;
  transition: Transition;
}

interface LockedJob extends JobSnapshot {
  id: string;
  vcpus: number;
  memoryMiB: number;
}

/**
 * Takes a new leadership epoch for `holder`; every fenced write of an
 * earlier epoch fails from now on. Call it before rebuilding from Postgres.
 */
export async function takeLeadership(db: DataSource, holder: string): Promise<Fence> {
  const [row]: { epoch: string }[] = await db.query(
    // Wrapped in a CTE: TypeORM returns [rows, count] for a bare UPDATE but plain rows for a SELECT.
    `WITH t AS (UPDATE scheduler_leadership SET epoch = epoch + 1, holder = $1, acquired_at = clock_timestamp() WHERE id = 1 RETURNING epoch)
     SELECT epoch FROM t`, [holder],
  );
  return { epoch: Number(row.epoch) };
}

/** Applies `commands` in one transaction of its own; see `applyInTransaction`. */
export async function applyCommands(db: DataSource, commands: LifecycleCommand[], fence?: Fence): Promise<Applied[]> {
  if (commands.length === 0) return [];
  return db.transaction((tx) => applyInTransaction(tx, commands, fence));
}

/**
 * The one writer of job and attempt status. Locks the jobs, decides each
 * command with the lifecycle table, and writes the moves, the attempt rows
 * and one event row per move, all in the caller's transaction. With a
 * fence, it first checks that the epoch is still current (and holds it
 * until commit, so no new leader can take over mid-write). Commands on one
 * job apply in order. The database refuses any status change made outside
 * this function, or not in the table.
 */
export async function applyInTransaction(tx: EntityManager, commands: LifecycleCommand[], fence?: Fence): Promise<Applied[]> {
  if (commands.length === 0) return [];
  const ids = [...new Set(commands.map((c) => c.jobId))].sort();
  // One round trip: mark the transaction as the writer's, hold the epoch (FOR SHARE until commit, so no new leader can
  // take over mid-write) and lock the jobs. Sorted: two writers locking overlapping sets take the locks in the same
  // order and cannot deadlock.
  const rows: {
    epoch: string | null; writer: string;
    id: string; status: JobStatus; attempt_count: number; max_attempts: number; retry_rules: ExitRule[]; terminate_reason: string | null;
    vcpus: string; memory_mib: number; node_index: number | null; preemption_count: number;
  }[] =
    await tx.query(
      `WITH writer AS MATERIALIZED (SELECT set_config('gpubatch.lifecycle', 'on', true) AS enabled),
            fence AS MATERIALIZED (SELECT epoch FROM scheduler_leadership WHERE id = 1 AND $2 FOR SHARE)
       SELECT (SELECT enabled FROM writer) AS writer, (SELECT epoch FROM fence) AS epoch,
              id, status, attempt_count, max_attempts, retry_rules, terminate_reason, vcpus, memory_mib, node_index, preemption_count
       FROM jobs WHERE id = ANY($1) ORDER BY id FOR UPDATE OF jobs`,
      [ids, fence !== undefined],
    );
  if (fence) {
    // No job matched (nothing to write): the epoch is still checked, so a deposed leader hears it at once.
    const epoch = rows.length > 0 ? Number(rows[0].epoch)
      : Number((await tx.query(`SELECT epoch FROM scheduler_leadership WHERE id = 1 FOR SHARE`) as { epoch: string }[])[0].epoch);
    if (epoch !== fence.epoch) throw new FencedError(fence.epoch, epoch);
  }
  const jobs = new Map<string, LockedJob>(rows.map((r) => [r.id, {
    id: r.id, status: r.status, attemptCount: r.attempt_count, maxAttempts: r.max_attempts, retryRules: r.retry_rules ?? [],
    terminateReason: r.terminate_reason, vcpus: Number(r.vcpus), memoryMiB: r.memory_mib, nodeIndex: r.node_index,
    preemptions: r.preemption_count,
  }]));

  const writes = new Writes();
  const applied: Applied[] = [];
  for (const c of commands) {
    const job = jobs.get(c.jobId);
    if (!job) {
      applied.push({ jobId: c.jobId, command: c.command, transition: { outcome: 'ignored', why: `job ${c.jobId} does not exist` } });
      continue;
    }
    const t = transition(job, c.command);
    applied.push({ jobId: c.jobId, command: c.command, transition: t });
    if (t.outcome !== 'applied') continue;
    for (const effect of t.effects) writes.effect(job, effect, c);
    job.status = t.to;
    writes.job(job, t);
  }
  await writes.flush(tx);
  return applied;
}

/** The rows one batch writes, gathered so each kind goes to Postgres in one statement. */
class Writes {
  private readonly jobs = new Map<string, { job: LockedJob; reason: string; at: Date | null; startedAt: Date | null }>();
  private readonly startedAt = new Map<string, Date>();
  private readonly events: { jobId: string; at: Date | null; from: JobStatus; to: JobStatus; reason: string }[] = [];
  private readonly opened: {
    jobId: string; attempt: number; workerId: string; gpuDevices: number[]; vcpus: number; memoryMiB: number; pool: string; gpuModel: string | null;
    nodeEnvironment: string | null;
  }[] = [];
  private readonly started: { jobId: string; attempt: number; startedAt: Date; containerId: string | null }[] = [];
  private readonly closed: { jobId: string; attempt: number; status: string; exitCode: number | null; reason: string; stoppedAt: Date; containerId: string | null }[] = [];

  effect(job: LockedJob, e: Effect, c: LifecycleCommand): void {
    switch (e.type) {
      case 'open-attempt':
        job.attemptCount = e.attempt;
        this.opened.push({
          jobId: job.id, attempt: e.attempt, workerId: e.workerId, gpuDevices: e.gpuDevices, vcpus: job.vcpus, memoryMiB: job.memoryMiB,
          pool: c.placement?.pool ?? 'default', gpuModel: c.placement?.gpuModel ?? null,
          nodeEnvironment: e.nodeEnvironment ? JSON.stringify(e.nodeEnvironment) : null,
        });
        return;
      case 'attempt-running':
        this.started.push({ jobId: job.id, attempt: e.attempt, startedAt: e.startedAt, containerId: c.containerId ?? null });
        if (!this.startedAt.has(job.id)) this.startedAt.set(job.id, e.startedAt);
        return;
      case 'close-attempt':
        this.closed.push({ jobId: job.id, attempt: e.attempt, status: e.status, exitCode: e.exitCode, reason: e.reason, stoppedAt: e.stoppedAt, containerId: c.containerId ?? null });
        return;
      case 'record-terminate':
        job.terminateReason = e.reason;
        return;
      case 'record-preemption':
        job.preemptions = (job.preemptions ?? 0) + 1;
        return;
      case 'stop-attempt':
      case 'preempt-attempt':
        return; // the caller's to carry out: it knows the worker's channel
    }
  }

  job(job: LockedJob, t: Extract<Transition, { outcome: 'applied' }>): void {
    this.jobs.set(job.id, { job, reason: t.reason, at: t.at ?? this.jobs.get(job.id)?.at ?? null, startedAt: this.startedAt.get(job.id) ?? null });
    this.events.push({ jobId: job.id, at: t.at ?? null, from: t.from, to: t.to, reason: t.reason });
  }

  async flush(tx: EntityManager): Promise<void> {
    // Each kind of row is one set-based statement, in this order. The job rows, their events and the last kind of
    // attempt rows go in one statement (data-modifying CTEs): one round trip instead of three. Earlier kinds of attempt
    // rows run alone before it, as a CTE cannot see another CTE's change to the same row (a start and an end of one attempt).
    // The attempt updates name their keys (`= ANY($1)`) as well as joining on them, so they are an index condition whatever
    // the statistics say: joined alone, the partial index of active attempts with lagging statistics (none, said the last
    // analyze) had the planner hash every active attempt for each batch.
    const attempts: Statement[] = [];
    if (this.opened.length) {
      attempts.push({
        sql: `INSERT INTO job_attempts (job_id, attempt, worker_id, pool, gpu_devices, gpu_model, vcpus, memory_mib, status, node_environment)
              SELECT job_id, attempt, worker_id, pool, COALESCE(string_to_array(NULLIF(gpus, ''), ',')::int[], '{}'), gpu_model, vcpus, memory_mib, 'STARTING',
                     node_environment::jsonb
              FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::numeric[], $7::int[], $8::text[], $9::text[])
                   AS a(job_id, attempt, worker_id, gpus, gpu_model, vcpus, memory_mib, pool, node_environment)`,
        params: [
          this.opened.map((a) => a.jobId), this.opened.map((a) => a.attempt), this.opened.map((a) => a.workerId),
          this.opened.map((a) => a.gpuDevices.join(',')), this.opened.map((a) => a.gpuModel), this.opened.map((a) => a.vcpus),
          this.opened.map((a) => a.memoryMiB), this.opened.map((a) => a.pool), this.opened.map((a) => a.nodeEnvironment),
        ],
      });
    }
    if (this.started.length) {
      attempts.push({
        sql: `UPDATE job_attempts a SET status = 'RUNNING', started_at = s.started_at, container_id = COALESCE(s.container_id, a.container_id)
              FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::text[]) AS s(job_id, attempt, started_at, container_id)
              WHERE a.job_id = ANY($1) AND a.job_id = s.job_id AND a.attempt = s.attempt AND a.status = 'STARTING'`,
        params: [this.started.map((s) => s.jobId), this.started.map((s) => s.attempt), this.started.map((s) => s.startedAt), this.started.map((s) => s.containerId)],
      });
    }
    if (this.closed.length) {
      attempts.push({
        sql: `UPDATE job_attempts a SET status = c.status, stopped_at = c.stopped_at, exit_code = c.exit_code, reason = c.reason,
                     container_id = COALESCE(a.container_id, c.container_id)
              FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::text[], $6::timestamptz[], $7::text[])
                   AS c(job_id, attempt, status, exit_code, reason, stopped_at, container_id)
              WHERE a.job_id = ANY($1) AND a.job_id = c.job_id AND a.attempt = c.attempt AND a.status IN ('STARTING', 'RUNNING')`,
        params: [
          this.closed.map((c) => c.jobId), this.closed.map((c) => c.attempt), this.closed.map((c) => c.status), this.closed.map((c) => c.exitCode),
          this.closed.map((c) => c.reason), this.closed.map((c) => c.stoppedAt), this.closed.map((c) => c.containerId),
        ],
      });
    }
    const together: Statement[] = attempts.splice(-1);
    if (this.jobs.size) {
      const js = [...this.jobs.values()];
      together.push({
        sql: `UPDATE jobs j SET status = u.status, status_reason = u.reason, attempt_count = u.attempt_count, terminate_reason = u.terminate_reason,
                     preemption_count = u.preemption_count,
                     started_at = COALESCE(j.started_at, u.started_at),
                     stopped_at = CASE WHEN u.status IN ('SUCCEEDED', 'FAILED') THEN COALESCE(u.at, clock_timestamp()) ELSE NULL END,
                     updated_at = clock_timestamp()
              FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::int[])
                   AS u(id, status, reason, attempt_count, terminate_reason, at, started_at, preemption_count)
              WHERE j.id = u.id`,
        params: [
          js.map((u) => u.job.id), js.map((u) => u.job.status), js.map((u) => u.reason), js.map((u) => u.job.attemptCount),
          js.map((u) => u.job.terminateReason), js.map((u) => u.at), js.map((u) => u.startedAt), js.map((u) => u.job.preemptions ?? 0),
        ],
      }, {
        sql: `INSERT INTO job_events (job_id, at, from_status, to_status, reason)
              SELECT job_id, COALESCE(at, clock_timestamp()), from_status, to_status, reason
              FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[]) AS e(job_id, at, from_status, to_status, reason)`,
        params: [this.events.map((e) => e.jobId), this.events.map((e) => e.at), this.events.map((e) => e.from), this.events.map((e) => e.to), this.events.map((e) => e.reason)],
      });
    }
    for (const statement of attempts) await tx.query(statement.sql, statement.params);
    if (together.length === 1) await tx.query(together[0].sql, together[0].params);
    else if (together.length > 1) {
      const combined = oneStatement(together);
      await tx.query(combined.sql, combined.params);
    }
  }
}

/** A data-modifying statement with its own parameters, numbered from $1. */
interface Statement {
  sql: string;
  params: unknown[];
}

/** Several statements as the CTEs of one (each runs once, on the same snapshot), their parameters renumbered in turn. */
function oneStatement(statements: Statement[]): Statement {
  const params: unknown[] = [];
  const ctes = statements.map((st, i) => {
    const offset = params.length;
    params.push(...st.params);
    return `w${i} AS (${st.sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`)})`;
  });
  return { sql: `WITH ${ctes.join(', ')} SELECT 1`, params };
}
