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

/**
 * Opens the usage row of an attempt whose container started, with the rates
 * of its pool's price card as they are now: a later price change applies to
 * later attempts only. Idempotent (one row per attempt).
 */
export async function openUsage(db: Db, jobId: string, attempt: number, startedAt: Date): Promise<void> {
  const [a]: AttemptToMeter[] = await db.query(
    `SELECT a.job_id, a.attempt, j.project, j.queue, d.name AS definition, j.parent_id, j.tags, a.worker_id, a.pool, a.vcpus, a.memory_mib,
            cardinality(a.gpu_devices) AS gpus, a.gpu_model, p.capacity_type, p.currency, p.vcpu_hour, p.memory_gib_hour,
            p.gpu_hour, p.gpu_hour_by_model, p.minimum_billed_seconds
     FROM job_attempts a JOIN jobs j ON j.id = a.job_id JOIN job_definitions d ON d.id = j.definition_id
     LEFT JOIN pools p ON p.name = a.pool
     WHERE a.job_id = $1 AND a.attempt = $2`,
    [jobId, attempt],
  );
  if (!a) return;
  const priced = a.currency === null ? UNPRICED : {
    capacityType: a.capacity_type!, currency: a.currency,
    rates: ratesFor({
      currency: a.currency, vcpuHour: a.vcpu_hour, memoryGiBHour: a.memory_gib_hour, gpuHour: a.gpu_hour,
      gpuHourByModel: a.gpu_hour_by_model, minimumBilledSeconds: a.minimum_billed_seconds,
    }, a.gpu_model),
  };
  await db.query(
    `INSERT INTO usage (job_id, attempt, project, queue, definition, array_job_id, tags, worker_id, pool, capacity_type, vcpus,
                        memory_mib, gpus, gpu_model, started_at, stopped_at, billed_seconds, currency, vcpu_hour, memory_gib_hour,
                        gpu_hour, minimum_billed_seconds, cost, running)
     VALUES ($1, $2, $3, $4, $5, $20, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, 0, $15, $16, $17, $18, $19, 0, true)
     ON CONFLICT (job_id, attempt) DO NOTHING`,
    [a.job_id, a.attempt, a.project, a.queue, a.definition, JSON.stringify(a.tags), a.worker_id, a.pool, priced.capacityType,
      a.vcpus, a.memory_mib, a.gpus, a.gpu_model, startedAt, priced.currency, priced.rates.vcpuHour, priced.rates.memoryGiBHour,
      priced.rates.gpuHour, priced.rates.minimumBilledSeconds, a.parent_id],
  );
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

/**
 * Settles an attempt's usage at its real stop: billed seconds and cost,
 * final. Only a running row is settled, so a repeated report bills nothing.
 * False when the attempt has no running row.
 */
export async function settleUsage(tx: EntityManager, jobId: string, attempt: number, stoppedAt: Date): Promise<boolean> {
  const [u]: OpenUsage[] = await tx.query(
    `SELECT ${OPEN_USAGE_COLUMNS} FROM usage WHERE job_id = $1 AND attempt = $2 AND running FOR UPDATE`, [jobId, attempt],
  );
  if (!u) return false;
  const { seconds, cost: amount } = bill(u, stoppedAt);
  await tx.query(
    `UPDATE usage SET stopped_at = $2, billed_seconds = $3, cost = $4, running = false WHERE id = $1`,
    [u.id, new Date(Math.max(stoppedAt.getTime(), u.started_at.getTime())), seconds, amount],
  );
  return true;
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
