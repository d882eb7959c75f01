import type { DataSource } from 'typeorm';
import { parseGpuModel, parseLabelSelector, type LabelSelector } from '#libs/core';
import type { DispatchPayload } from '#libs/queue';
import { ClusterState, type HeldJob, type RunnableEntry } from '../state/cluster-state.js';

export interface RunnableRow {
  id: string; queue: string; priority: number; created_at: Date; vcpus: string; memory_mib: number; gpus: number;
  gpu_model: string | null; label_selector: string | null; timeout_seconds: number | null; project: string; interruptible: boolean;
  parent_id: string | null; node_count: number | null; node_index: number | null; topology_key: string | null;
}

export const RUNNABLE_COLUMNS = `id, queue, priority, created_at, vcpus, memory_mib, gpus, gpu_model, label_selector, timeout_seconds, project, interruptible,
  parent_id, node_count, node_index, topology_key`;

// The API validated both at submit; a row that still does not parse must wait, never run anywhere:
// a selector on a label no worker can declare ('(' is not a label character) matches nothing.
const MATCHES_NO_WORKER: LabelSelector = [{ op: 'exists', key: '(unparseable constraint)' }];

export function toRunnable(r: RunnableRow): RunnableEntry {
  let gpuModel: readonly string[] | undefined;
  let labelSelector: LabelSelector | undefined;
  try {
    gpuModel = r.gpu_model ? parseGpuModel(r.gpu_model) : undefined;
    labelSelector = r.label_selector ? parseLabelSelector(r.label_selector) : undefined;
  } catch {
    labelSelector = MATCHES_NO_WORKER;
  }
  return {
    id: r.id, queue: r.queue, priority: r.priority, submittedAt: r.created_at.getTime(), project: r.project,
    resources: { vcpus: Number(r.vcpus), memoryMiB: r.memory_mib, gpus: r.gpus, gpuModel },
    labelSelector, timeoutSeconds: r.timeout_seconds, interruptible: r.interruptible,
    ...(r.node_index !== null && r.node_count !== null ? {
      gang: {
        id: r.node_index === 0 ? r.id : r.parent_id!, index: r.node_index, size: r.node_count,
        ...(r.topology_key ? { topologyKey: r.topology_key } : {}),
      },
    } : {}),
  };
}

/**
 * Rebuilds the leader's model from Postgres, the source of truth: what every
 * STARTING/RUNNING attempt holds, and every RUNNABLE job. Returns the
 * STARTING attempts so their dispatch entries can be re-added (a no-op when
 * Redis still has them).
 */
export async function rebuildFromPostgres(db: DataSource, state: ClusterState): Promise<Map<string, DispatchPayload[]>> {
  state.clear();
  const active = await activeAttempts(db);
  for (const a of active) {
    state.hold(a.workerId, ClusterState.attemptKey(a.jobId, a.attempt), {
      jobId: a.jobId, project: a.project, vcpus: a.resources.vcpus, memoryMiB: a.resources.memoryMiB, gpuDevices: a.gpuDevices,
      startedAt: a.heldSince.getTime(), timeoutSeconds: a.timeoutSeconds, job: a.held,
    });
  }
  await loadRunnable(db, state);
  return byWorker(active.filter((a) => a.status === 'STARTING'));
}

/**
 * STARTING attempts older than `minAgeSeconds`, by worker: their dispatch
 * entry may have been lost (a Redis blip after the commit). Re-adding them
 * is a no-op when Redis still has them.
 */
export async function staleStartingAttempts(db: DataSource, minAgeSeconds: number): Promise<Map<string, DispatchPayload[]>> {
  return byWorker(await activeAttempts(db, minAgeSeconds));
}

type ActiveAttempt = DispatchPayload & { workerId: string; status: string; heldSince: Date; project: string; held: HeldJob };

async function activeAttempts(db: DataSource, startingOlderThanSeconds?: number): Promise<ActiveAttempt[]> {
  const rows: (Omit<ActiveAttempt, 'resources' | 'held'> & { vcpus: string; memoryMiB: number; multiNode: boolean; priority: number; preemptible: boolean; graceSeconds: number })[] = await db.query(
    `SELECT a.job_id AS "jobId", a.attempt, a.worker_id AS "workerId", a.status, a.gpu_devices AS "gpuDevices",
            a.vcpus, a.memory_mib AS "memoryMiB", COALESCE(a.started_at, a.created_at) AS "heldSince",
            j.name AS "jobName", j.queue, j.image, j.command, j.environment || COALESCE(a.node_environment, '{}') AS environment,
            j.timeout_seconds AS "timeoutSeconds", j.project, a.node_environment IS NOT NULL AS "multiNode",
            j.preemption_count AS "restartCount", j.priority, j.preemptible, j.preemption_grace_seconds AS "graceSeconds"
     FROM job_attempts a JOIN jobs j ON j.id = a.job_id
     WHERE ${startingOlderThanSeconds === undefined
       ? `a.status IN ('STARTING', 'RUNNING')`
       : `a.status = 'STARTING' AND a.created_at < now() - make_interval(secs => $1)`}`,
    startingOlderThanSeconds === undefined ? [] : [startingOlderThanSeconds],
  );
  return rows.map(({ vcpus, memoryMiB, multiNode, priority, preemptible, graceSeconds, ...a }) => ({
    ...a, resources: { vcpus: Number(vcpus), memoryMiB, gpus: a.gpuDevices.length }, ...(multiNode ? { networkMode: 'host' as const } : {}),
    held: { queue: a.queue, priority, preemptible, preemptions: a.restartCount ?? 0, graceSeconds },
  }));
}

function byWorker(attempts: ActiveAttempt[]): Map<string, DispatchPayload[]> {
  const out = new Map<string, DispatchPayload[]>();
  for (const { workerId, status: _status, heldSince: _heldSince, project: _project, held: _held, ...payload } of attempts) {
    out.set(workerId, [...(out.get(workerId) ?? []), payload]);
  }
  return out;
}

/** Adds every RUNNABLE job in Postgres the model does not hold yet (catches intake adds that were lost). */
export async function loadRunnable(db: DataSource, state: ClusterState, ids?: string[]): Promise<void> {
  const rows: RunnableRow[] = ids
    // An array's intake entry is its parent's id: it brings in the children.
    ? await db.query(`SELECT ${RUNNABLE_COLUMNS} FROM jobs WHERE (id = ANY($1) OR parent_id = ANY($1)) AND status = 'RUNNABLE'`, [ids])
    : await db.query(`SELECT ${RUNNABLE_COLUMNS} FROM jobs WHERE status = 'RUNNABLE'`);
  for (const row of rows) if (!state.runnable.has(row.id)) state.runnable.set(row.id, toRunnable(row));
}

/**
 * The periodic sweep: adds RUNNABLE jobs the model missed and drops those
 * that left RUNNABLE without the scheduler (cancelled). True if anything changed.
 */
export async function syncRunnable(db: DataSource, state: ClusterState): Promise<boolean> {
  const rows: RunnableRow[] = await db.query(`SELECT ${RUNNABLE_COLUMNS} FROM jobs WHERE status = 'RUNNABLE'`);
  const present = new Set(rows.map((r) => r.id));
  let changed = false;
  for (const id of state.runnable.keys()) {
    if (present.has(id)) continue;
    state.runnable.delete(id);
    state.reasons.delete(id);
    changed = true;
  }
  for (const row of rows) {
    if (state.runnable.has(row.id)) continue;
    state.runnable.set(row.id, toRunnable(row));
    changed = true;
  }
  return changed;
}
