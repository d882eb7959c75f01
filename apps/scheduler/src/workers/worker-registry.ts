import type { DataSource } from 'typeorm';
import type { Redis } from 'ioredis';
import { validateLabels, type WorkerNode } from '#libs/core';
import type { Logger } from '#libs/log';
import { RedisKeys, type WorkerDescriptor } from '#libs/queue';
import type { ClusterState } from '../state/cluster-state.js';

type RecordedState = 'ACTIVE' | 'DRAINING' | 'LOST' | 'LEFT';

/** A worker's node for the core, with the heartbeat entry it was built from. */
interface CachedNode {
  descriptor: WorkerDescriptor;
  node: WorkerNode;
}

/** One reading of the heartbeat hash: the valid entries and the drain requests. */
export interface HeartbeatReading {
  descriptors: WorkerDescriptor[];
  drains: Set<string>;
}

// The workers table's last_heartbeat_at is refreshed this often, not on every beat.
const HEARTBEAT_WRITE_INTERVAL_MS = 10_000;
// With worker auth, who holds an unrevoked identity is re-read this often (a revoke acts within it).
const IDENTITIES_READ_INTERVAL_MS = 5_000;

/**
 * The pool as seen through the workers' Redis heartbeats, mirrored into the
 * workers table for the API: joins, drains, departures and silence (LOST,
 * as the liveness system judges it).
 */
export class WorkerRegistry {
  private descriptors = new Map<string, WorkerDescriptor>();
  /** Each worker's heartbeat entry as last read, with what it parsed to: an entry unchanged since is not parsed again. */
  private parsed = new Map<string, { json: string; descriptor: WorkerDescriptor | null }>();
  private recorded = new Map<string, { state: RecordedState; heartbeatWrittenAt: number; fingerprint: string; leftAt?: number }>();
  private drainRequested = new Set<string>();
  private identities: { readAt: number; ids: Set<string> } | undefined;
  private readonly warnedUnidentified = new Set<string>();
  private nodeCache = new Map<string, CachedNode>();
  private nodeList: WorkerNode[] | null = null;

  constructor(
    private readonly db: DataSource,
    private readonly redis: Redis,
    private readonly state: ClusterState,
    private readonly logger: Logger,
    private readonly workerAuth: 'required' | 'off' = 'off',
  ) {}

  /** Loads what Postgres last recorded, so a new leader does not rewrite every row. */
  async load(): Promise<void> {
    const rows: { id: string; state: RecordedState; last_heartbeat_at: Date }[] = await this.db.query(`SELECT id, state, last_heartbeat_at FROM workers`);
    this.recorded = new Map(rows.map((r) => [r.id, {
      // A worker that left under an earlier leader was last seen at its last recorded heartbeat.
      state: r.state, heartbeatWrittenAt: 0, fingerprint: '', leftAt: r.state === 'LEFT' ? r.last_heartbeat_at.getTime() : undefined,
    }]));
  }

  /** Reads every heartbeat entry and drain request; throws when Redis cannot be read. */
  async read(): Promise<HeartbeatReading> {
    // Each worker beats on its own key (its Redis user can write no other); the registry of who joined which
    // pool is the control plane's (docs/worker-security.md).
    const [pools, drains] = await Promise.all([this.redis.hgetall(RedisKeys.workerPools), this.redis.smembers(RedisKeys.drainRequests)]);
    const ids = Object.keys(pools);
    const raw = ids.length ? await this.redis.mget(ids.map((id) => RedisKeys.worker(id))) : [];
    const descriptors: WorkerDescriptor[] = [];
    const parsed = new Map<string, { json: string; descriptor: WorkerDescriptor | null }>();
    ids.forEach((id, i) => {
      const json = raw[i];
      if (json === null || json === undefined) return; // joined, not beating (yet, or any more)
      // A pass runs on every change, a worker beats every few seconds: most entries are the ones read last time.
      const last = this.parsed.get(id);
      const descriptor = last?.json === json ? last.descriptor : parseDescriptor(json);
      parsed.set(id, { json, descriptor });
      if (!descriptor || descriptor.id !== id) {
        this.logger.warn({ workerId: id }, 'ignoring a worker whose declared capacity is invalid');
        return;
      }
      if (descriptor.pool !== pools[id]) {
        this.logger.warn({ workerId: id, declared: descriptor.pool, joined: pools[id] }, 'ignoring a worker that declares a pool it did not join');
        return;
      }
      descriptors.push(descriptor);
    });
    this.parsed = parsed;
    return { descriptors: await this.identified(descriptors), drains: new Set(drains) };
  }

  /**
   * With worker auth, a worker that holds no identity (it did not join with a
   * token, or was revoked) is given no work: the recorder would refuse every
   * report of it, leaving its jobs to time out. If Postgres cannot be read,
   * the last known identities serve.
   */
  private async identified(descriptors: WorkerDescriptor[]): Promise<WorkerDescriptor[]> {
    if (this.workerAuth !== 'required') return descriptors;
    const now = Date.now();
    if (!this.identities || now - this.identities.readAt >= IDENTITIES_READ_INTERVAL_MS) {
      try {
        const rows: { worker_id: string }[] = await this.db.query(`SELECT worker_id FROM worker_identities WHERE revoked_at IS NULL`);
        this.identities = { readAt: now, ids: new Set(rows.map((r) => r.worker_id)) };
      } catch (error) {
        this.logger.warn({ err: error }, 'cannot read worker identities; using the last known');
        if (!this.identities) return [];
      }
    }
    const ids = this.identities!.ids;
    return descriptors.filter((d) => {
      if (ids.has(d.id)) return true;
      if (!this.warnedUnidentified.has(d.id)) {
        this.warnedUnidentified.add(d.id);
        this.logger.warn({ workerId: d.id }, 'ignoring a worker with no identity: it must join with WORKER_JOIN_TOKEN (GPUBATCH_WORKER_AUTH=required)');
      }
      return false;
    });
  }

  /**
   * True when the drain requests differ from those of the last reading (or
   * cannot be read): a drain asked through the API wakes nobody, and the next
   * placement must not put work on that worker.
   */
  async drainsChanged(): Promise<boolean> {
    try {
      const drains = await this.redis.smembers(RedisKeys.drainRequests);
      return drains.length !== this.drainRequested.size || drains.some((id) => !this.drainRequested.has(id));
    } catch {
      return true; // the full pass's own read reports the outage
    }
  }

  /**
   * Takes in a reading with the workers judged LOST, and records every change
   * of worker state. `changed` when placement may change; `returned` lists
   * LOST or departed workers heard from again.
   */
  async apply(reading: HeartbeatReading, lost: ReadonlySet<string>, now: number): Promise<{ changed: boolean; returned: string[] }> {
    this.drainRequested = reading.drains;
    this.descriptors = new Map(reading.descriptors.map((d) => [d.id, d]));
    let changed = false;
    const returned: string[] = [];
    const due: { d: WorkerDescriptor; state: RecordedState; fingerprint: string; stateChanged: boolean }[] = [];
    for (const d of this.descriptors.values()) {
      const state: RecordedState = lost.has(d.id) ? 'LOST'
        : d.state === 'DRAINING' || this.drainRequested.has(d.id) ? 'DRAINING' : 'ACTIVE';
      const before = this.recorded.get(d.id)?.state;
      if (state !== 'LOST' && (before === 'LOST' || before === 'LEFT')) returned.push(d.id);
      const fingerprint = fingerprintOf(d);
      const prev = this.recorded.get(d.id);
      const stateChanged = prev?.state !== state || prev.fingerprint !== fingerprint;
      if (stateChanged || heartbeatWriteDue(d.id, prev.heartbeatWrittenAt, now, HEARTBEAT_WRITE_INTERVAL_MS)) due.push({ d, state, fingerprint, stateChanged });
    }
    await this.record(due, now);
    changed = due.some((w) => w.stateChanged);
    for (const [id, rec] of this.recorded) {
      if (!this.descriptors.has(id) && rec.state !== 'LEFT' && rec.state !== 'LOST') {
        // It removed its own heartbeat entry: it drained and left.
        await this.db.query(`UPDATE workers SET state = 'LEFT' WHERE id = $1`, [id]);
        await this.redis.srem(RedisKeys.drainRequests, id);
        rec.state = 'LEFT';
        rec.leftAt = now;
        changed = true;
        this.logger.info({ workerId: id }, 'worker left');
      }
    }
    return { changed, returned };
  }

  /** Each worker heard from in the last reading, with its last heartbeat (its own clock), for the heartbeat-age metric. */
  heartbeats(): { workerId: string; pool: string; heartbeatAt: number }[] {
    return [...this.descriptors.values()].map((d) => ({ workerId: d.id, pool: d.pool, heartbeatAt: d.heartbeatAt }));
  }

  /** Workers recorded LOST. */
  recordedLost(): Set<string> {
    return new Set([...this.recorded].filter(([, r]) => r.state === 'LOST').map(([id]) => id));
  }

  /** Workers gone from the heartbeat hash, with when they went (billed up to then). */
  left(): { workerId: string; leftAt: number }[] {
    return [...this.recorded]
      .filter(([id, r]) => r.state === 'LEFT' && !this.descriptors.has(id))
      .map(([workerId, r]) => ({ workerId, leftAt: r.leftAt ?? 0 }));
  }

  /** LOST workers with the time of their last heartbeat, by their own clock: what their attempts are billed to. */
  lost(): { id: string; lastHeartbeatAt: number }[] {
    return [...this.descriptors.values()]
      .filter((d) => this.recorded.get(d.id)?.state === 'LOST')
      .map((d) => ({ id: d.id, lastHeartbeatAt: d.heartbeatAt }));
  }

  /**
   * Writes the workers whose state changed or whose heartbeat was last
   * written a while ago, all in one statement: workers that joined together
   * fall due together, and one round trip (and commit) each would hold up
   * the pass for seconds at a thousand workers.
   */
  private async record(due: { d: WorkerDescriptor; state: RecordedState; fingerprint: string; stateChanged: boolean }[], now: number): Promise<void> {
    if (due.length === 0) return;
    const rows = due.map(({ d, state }) => ({
      id: d.id, pool: d.pool, hostname: d.hostname, vcpus: d.vcpus, memory_mib: d.memoryMiB, gpus: d.gpus, labels: d.labels ?? {}, state,
      last_heartbeat_at: new Date(d.heartbeatAt).toISOString(),
    }));
    await this.db.query(
      `INSERT INTO workers (id, pool, hostname, vcpus, memory_mib, gpus, labels, state, last_heartbeat_at)
       SELECT r.id, r.pool, r.hostname, r.vcpus, r.memory_mib, r.gpus, r.labels, r.state, r.last_heartbeat_at
       FROM jsonb_to_recordset($1::jsonb) AS r(id varchar, pool varchar, hostname varchar, vcpus numeric, memory_mib integer, gpus jsonb,
                                               labels jsonb, state varchar, last_heartbeat_at timestamptz)
       ORDER BY r.id
       ON CONFLICT (id) DO UPDATE SET pool = EXCLUDED.pool, hostname = EXCLUDED.hostname, vcpus = EXCLUDED.vcpus, memory_mib = EXCLUDED.memory_mib,
         gpus = EXCLUDED.gpus, labels = EXCLUDED.labels, state = EXCLUDED.state, last_heartbeat_at = EXCLUDED.last_heartbeat_at`,
      [JSON.stringify(rows)],
    );
    for (const { d, state, fingerprint, stateChanged } of due) {
      this.recorded.set(d.id, { state, heartbeatWrittenAt: now, fingerprint });
      if (stateChanged) this.logger.info({ workerId: d.id, state, pool: d.pool, gpus: d.gpus.length }, 'worker state recorded');
    }
  }

  /**
   * Workers for the core: capacity from heartbeats, allocation from the
   * leader's state. Each node is built again only when its heartbeat entry,
   * recorded state or allocation changed, and the list is the same one while
   * none did: a pass runs on every submit, the pool changes every few seconds.
   * Callers must not modify what this returns.
   */
  nodes(): readonly WorkerNode[] {
    let changed = this.nodeCache.size !== this.descriptors.size;
    const nodes = new Map<string, CachedNode>();
    for (const d of this.descriptors.values()) {
      const schedulable = this.recorded.get(d.id)?.state === 'ACTIVE';
      const allocated = this.state.allocatedOn(d.id);
      let cached = this.nodeCache.get(d.id);
      if (!cached || cached.descriptor !== d || cached.node.schedulable !== schedulable || cached.node.allocated !== allocated) {
        cached = {
          descriptor: d,
          node: {
            id: d.id,
            pool: d.pool,
            schedulable,
            labels: d.labels ?? {},
            capacity: { vcpus: d.vcpus, memoryMiB: d.memoryMiB, gpus: d.gpus.map((g) => ({ index: g.index, model: g.model, nvlinkGroup: g.nvlinkGroup })) },
            allocated,
          },
        };
        changed = true;
      }
      nodes.set(d.id, cached);
    }
    if (changed || !this.nodeList) {
      this.nodeCache = nodes;
      this.nodeList = [...nodes.values()].map((c) => c.node);
    }
    return this.nodeList;
  }

  /** Where other workers reach this one's host-network containers: its advertised address, else its host name. */
  address(workerId: string): string | undefined {
    const d = this.descriptors.get(workerId);
    return d && (d.address ?? d.hostname);
  }

  pool(workerId: string): string | undefined {
    return this.descriptors.get(workerId)?.pool;
  }

  /** The model of one of a worker's GPUs: what its GPU-hours are priced by. */
  gpuModel(workerId: string, index: number): string | undefined {
    return this.descriptors.get(workerId)?.gpus.find((g) => g.index === index)?.model;
  }

  /** Every pool some worker has joined. */
  pools(): string[] {
    return [...new Set([...this.descriptors.values()].map((d) => d.pool))];
  }
}

/**
 * Whether a worker's last_heartbeat_at is due for a write: once in every
 * `intervalMs` window, the windows shifted per worker by its id. Workers
 * that joined together (a fleet starting) would otherwise fall due together
 * and their rows be written in one burst every interval, holding up the
 * pass it lands in; spread by id, a pass writes its share of them.
 */
export function heartbeatWriteDue(workerId: string, writtenAt: number, now: number, intervalMs: number): boolean {
  const phase = idPhase(workerId, intervalMs);
  return Math.floor((now + phase) / intervalMs) !== Math.floor((writtenAt + phase) / intervalMs);
}

/** What the workers row records of a worker, besides its state and heartbeat. */
const fingerprints = new WeakMap<WorkerDescriptor, string>();
function fingerprintOf(d: WorkerDescriptor): string {
  // Kept per descriptor: a full pass sees the same one again until the worker's next beat (read() reuses it).
  let fingerprint = fingerprints.get(d);
  if (fingerprint === undefined) {
    fingerprint = JSON.stringify([d.pool, d.hostname, d.vcpus, d.memoryMiB, d.gpus, d.labels, d.startedAt]);
    fingerprints.set(d, fingerprint);
  }
  return fingerprint;
}

/** A stable offset in [0, intervalMs) from the id (FNV-1a). */
function idPhase(id: string, intervalMs: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) % intervalMs;
}

/** A descriptor the scheduler can trust, or null: nonsense capacity never joins the pool. */
export function parseDescriptor(json: string): WorkerDescriptor | null {
  let d: WorkerDescriptor;
  try {
    d = JSON.parse(json);
  } catch {
    return null;
  }
  const indices = Array.isArray(d?.gpus) ? d.gpus.map((g) => g?.index) : null;
  const valid =
    typeof d.id === 'string' && typeof d.pool === 'string' && typeof d.hostname === 'string' &&
    // Bounded by the workers table's columns: numeric(10,3) and integer.
    Number.isFinite(d.vcpus) && d.vcpus > 0 && d.vcpus < 1_000_000 && Number.isInteger(d.memoryMiB) && d.memoryMiB > 0 && d.memoryMiB <= 2_147_483_647 &&
    indices !== null && indices.every((i) => Number.isInteger(i) && i >= 0) && new Set(indices).size === indices.length &&
    (d.state === 'ACTIVE' || d.state === 'DRAINING') && Number.isFinite(d.heartbeatAt) &&
    d.gpus.every((g) => typeof g.model === 'string' && g.model !== '') && validLabels(d.labels ?? {}) &&
    (d.address === undefined || (typeof d.address === 'string' && /^[A-Za-z0-9.:-]{1,253}$/.test(d.address)));
  if (!valid) return null;
  // A malformed list is no list: the worker is judged by its heartbeats alone, never by attempts it did not list.
  if (d.attempts !== undefined && !(Array.isArray(d.attempts) && d.attempts.every((k) => typeof k === 'string'))) d.attempts = undefined;
  if (d.claimer !== undefined && typeof d.claimer !== 'string') d.claimer = undefined;
  return d;
}

function validLabels(labels: Record<string, string>): boolean {
  try {
    validateLabels(labels);
    return true;
  } catch {
    return false;
  }
}
