import type { DataSource, EntityManager } from 'typeorm';
import { billedSeconds, cost, ratesFor, type CapacityType, type Rates } from '#libs/core';

type Db = DataSource | EntityManager;

/** A pool no one priced bills at zero (in USD), so its usage is still metered. */
const UNPRICED = { capacityType: 'ON_DEMAND' as CapacityType, currency: 'USD', rates: { vcpuHour: '0', memoryGiBHour: '0', gpuHour: '0', minimumBilledSeconds: 0 } };

interface AttemptToMeter {
  job_id: string; attempt: number; project: string; queue: string; definition: string; parent_id: string | null; tags: Record<string, string>;
  worker_id: string; pool: string; vcpus: string; memory_mib: number; gpus: number; gpu_model: string | null;
  capacity_type: CapacityType | null; currency: string | null; vcpu_hour: string; memory_gib_hour: string; gpu_hour: string;
  gpu_hour_by_model: Record<string, string>; minimum_billed_seconds: number;
}

/** An attempt's container start, to open its meter from. */
export interface AttemptStart {
  jobId: string;
  attempt: number;
  startedAt: Date;
}

/** An opened (or already open) attempt, with what the submit-to-start histogram needs. */
export interface MeteredAttempt {
  jobId: string;
  attempt: number;
  queue: string;
  createdAt: Date;
}

/**
 * Opens the usage row of an attempt whose container started, with the rates
 * of its pool's price card as they are now: a later price change applies to
 * later attempts only. Idempotent (one row per attempt).
 */
export async function openUsage(db: Db, jobId: string, attempt: number, startedAt: Date): Promise<void> {
  await openUsages(db, [{ jobId, attempt, startedAt }]);
}

/**
 * `openUsage` for many attempts: one read of their attempts, jobs and price
 * cards, one multi-row insert. Returns the attempts that exist.
 */
export async function openUsages(db: Db, starts: readonly AttemptStart[]): Promise<MeteredAttempt[]> {
  if (starts.length === 0) return [];
  const rows: (AttemptToMeter & { created_at: Date; started_at: Date })[] = await db.query(
    `SELECT a.job_id, a.attempt, j.project, j.queue, j.created_at, d.name AS definition, j.parent_id, j.tags, a.worker_id, a.pool, a.vcpus,
            a.memory_mib, cardinality(a.gpu_devices) AS gpus, a.gpu_model, p.capacity_type, p.currency, p.vcpu_hour, p.memory_gib_hour,
            p.gpu_hour, p.gpu_hour_by_model, p.minimum_billed_seconds, s.started_at
     FROM unnest($1::text[], $2::int[], $3::timestamptz[]) WITH ORDINALITY AS s(job_id, attempt, started_at, n)
     JOIN job_attempts a ON a.job_id = s.job_id AND a.attempt = s.attempt
     JOIN jobs j ON j.id = a.job_id JOIN job_definitions d ON d.id = j.definition_id
     LEFT JOIN pools p ON p.name = a.pool
     ORDER BY s.n`,
    [starts.map((s) => s.jobId), starts.map((s) => s.attempt), starts.map((s) => s.startedAt)],
  );
  if (rows.length === 0) return [];
  const priced = rows.map((a) => a.currency === null ? UNPRICED : {
    capacityType: a.capacity_type!, currency: a.currency,
    rates: ratesFor({
      currency: a.currency, vcpuHour: a.vcpu_hour, memoryGiBHour: a.memory_gib_hour, gpuHour: a.gpu_hour,
      gpuHourByModel: a.gpu_hour_by_model, minimumBilledSeconds: a.minimum_billed_seconds,
    }, a.gpu_model),
  });
  const col = <T>(f: (a: (typeof rows)[number], i: number) => T) => rows.map(f);
  await db.query(
    `INSERT INTO usage (job_id, attempt, project, queue, definition, array_job_id, tags, worker_id, pool, capacity_type, vcpus,
                        memory_mib, gpus, gpu_model, started_at, stopped_at, billed_seconds, currency, vcpu_hour, memory_gib_hour,
                        gpu_hour, minimum_billed_seconds, cost, running)
     SELECT job_id, attempt, project, queue, definition, array_job_id, tags::jsonb, worker_id, pool, capacity_type, vcpus,
            memory_mib, gpus, gpu_model, started_at, started_at, 0, currency, vcpu_hour, memory_gib_hour, gpu_hour, minimum_billed_seconds, 0, true
     FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                 $11::numeric[], $12::int[], $13::int[], $14::text[], $15::timestamptz[], $16::text[], $17::numeric[], $18::numeric[],
                 $19::numeric[], $20::int[])
          AS u(job_id, attempt, project, queue, definition, array_job_id, tags, worker_id, pool, capacity_type, vcpus, memory_mib, gpus,
               gpu_model, started_at, currency, vcpu_hour, memory_gib_hour, gpu_hour, minimum_billed_seconds)
     ON CONFLICT (job_id, attempt) DO NOTHING`,
    [col((a) => a.job_id), col((a) => a.attempt), col((a) => a.project), col((a) => a.queue), col((a) => a.definition), col((a) => a.parent_id),
      col((a) => JSON.stringify(a.tags)), col((a) => a.worker_id), col((a) => a.pool), col((_, i) => priced[i].capacityType), col((a) => a.vcpus),
      col((a) => a.memory_mib), col((a) => a.gpus), col((a) => a.gpu_model), col((a) => a.started_at), col((_, i) => priced[i].currency),
      col((_, i) => priced[i].rates.vcpuHour), col((_, i) => priced[i].rates.memoryGiBHour), col((_, i) => priced[i].rates.gpuHour),
      col((_, i) => priced[i].rates.minimumBilledSeconds)],
  );
  return rows.map((a) => ({ jobId: a.job_id, attempt: a.attempt, queue: a.queue, createdAt: a.created_at }));
}

interface OpenUsage {
  id: string; started_at: Date; vcpus: string; memory_mib: number; gpus: number;
  vcpu_hour: string; memory_gib_hour: string; gpu_hour: string; minimum_billed_seconds: number;
}

const OPEN_USAGE_COLUMNS = `id, started_at, vcpus, memory_mib, gpus, vcpu_hour, memory_gib_hour, gpu_hour, minimum_billed_seconds`;

/** Billed seconds and cost of an open row if it stopped (or was looked at) at `until`. */
function bill(u: OpenUsage, until: Date): { seconds: number; cost: string } {
  const rates: Rates = { vcpuHour: u.vcpu_hour, memoryGiBHour: u.memory_gib_hour, gpuHour: u.gpu_hour, minimumBilledSeconds: u.minimum_billed_seconds };
  const seconds = billedSeconds(u.started_at, until, rates.minimumBilledSeconds);
  return { seconds, cost: cost(rates, { vcpus: Number(u.vcpus), memoryMiB: u.memory_mib, gpus: u.gpus }, seconds) };
}

/** An attempt's real stop, to settle its meter at. */
export interface AttemptStop {
  jobId: string;
  attempt: number;
  stoppedAt: Date;
}

/**
 * Settles an attempt's usage at its real stop: billed seconds and cost,
 * final. Only a running row is settled, so a repeated report bills nothing.
 * False when the attempt has no running row.
 */
export async function settleUsage(tx: EntityManager, jobId: string, attempt: number, stoppedAt: Date): Promise<boolean> {
  return (await settleUsages(tx, [{ jobId, attempt, stoppedAt }])).size === 1;
}

/**
 * The running usage rows of these attempts, locked in id order as the
 * accrual locks them. `job_id = ANY` makes the keys an index condition: on
 * the pair alone, stale statistics of `running` (none, said the last
 * analyze) had the planner walk every running row once per key.
 */
async function lockRunning<T>(tx: EntityManager, columns: string, attempts: readonly { jobId: string; attempt: number }[]): Promise<T[]> {
  if (attempts.length === 0) return [];
  return tx.query(
    `SELECT ${columns} FROM usage
     WHERE job_id = ANY($1) AND (job_id, attempt) IN (SELECT * FROM unnest($1::text[], $2::int[])) AND running ORDER BY id FOR UPDATE`,
    [attempts.map((a) => a.jobId), attempts.map((a) => a.attempt)],
  );
}

/** Locks the running usage rows of these attempts before a transaction writes other usage rows (see lockRunning). */
export async function lockRunningUsages(tx: EntityManager, attempts: readonly { jobId: string; attempt: number }[]): Promise<void> {
  await lockRunning(tx, 'id', attempts);
}

/**
 * `settleUsage` for many attempts (each at most once): one locking read, one
 * multi-row update. Returns the attempts settled, as `jobId:attempt`.
 */
export async function settleUsages(tx: EntityManager, stops: readonly AttemptStop[]): Promise<Set<string>> {
  const open = await lockRunning<OpenUsage & { job_id: string; attempt: number }>(tx, `${OPEN_USAGE_COLUMNS}, job_id, attempt`, stops);
  if (open.length === 0) return new Set();
  const stopAt = new Map(stops.map((s) => [`${s.jobId}:${s.attempt}`, s.stoppedAt]));
  const settled = open.map((u) => {
    const stoppedAt = stopAt.get(`${u.job_id}:${u.attempt}`)!;
    return { id: u.id, stoppedAt: new Date(Math.max(stoppedAt.getTime(), u.started_at.getTime())), ...bill(u, stoppedAt) };
  });
  await tx.query(
    `UPDATE usage u SET stopped_at = x.stopped_at, billed_seconds = x.seconds, cost = x.cost, running = false
     FROM unnest($1::bigint[], $2::timestamptz[], $3::int[], $4::numeric[]) AS x(id, stopped_at, seconds, cost)
     WHERE u.id = x.id`,
    [settled.map((x) => x.id), settled.map((x) => x.stoppedAt), settled.map((x) => x.seconds), settled.map((x) => x.cost)],
  );
  return new Set(open.map((u) => `${u.job_id}:${u.attempt}`));
}

/**
 * Brings every running attempt's usage up to `now`, so cost so far shows on
 * jobs and reports and counts against budgets before the attempt ends.
 * A row being settled meanwhile is left to its settlement. A RUNNING attempt without a
 * row (the scheduler stopped between recording its start and opening its
 * meter) gets one first, at the rates in force now.
 */
export async function accrueRunningUsage(db: DataSource, now: Date): Promise<number> {
  const unmetered: { job_id: string; attempt: number; started_at: Date }[] = await db.query(
    `SELECT a.job_id, a.attempt, a.started_at FROM job_attempts a
     WHERE a.status = 'RUNNING' AND NOT EXISTS (SELECT 1 FROM usage u WHERE u.job_id = a.job_id AND u.attempt = a.attempt)`,
  );
  for (const a of unmetered) await openUsage(db, a.job_id, a.attempt, a.started_at);
  return db.transaction(async (tx) => {
    // Rows a recorder is settling right now are skipped (they are final in a moment). Waiting for them
    // could deadlock: the settle then updates the rollup row this accrual may already hold.
    const open: OpenUsage[] = await tx.query(`SELECT ${OPEN_USAGE_COLUMNS} FROM usage WHERE running ORDER BY id FOR UPDATE SKIP LOCKED`);
    if (open.length === 0) return 0;
    const billed = open.map((u) => bill(u, now));
    await tx.query(
      `UPDATE usage u SET stopped_at = GREATEST(u.started_at, $1), billed_seconds = x.seconds, cost = x.cost
       FROM unnest($2::bigint[], $3::int[], $4::numeric[]) AS x(id, seconds, cost)
       WHERE u.id = x.id`,
      [now, open.map((u) => u.id), billed.map((b) => b.seconds), billed.map((b) => b.cost)],
    );
    return open.length;
  });
}
