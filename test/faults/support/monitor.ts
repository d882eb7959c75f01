import { loadavg } from 'node:os';
import type Docker from 'dockerode';
import type pg from 'pg';

export type Invariant =
  | 'lost' | 'stranded' | 'gpu-double-assigned' | 'billed-not-once' | 'orphaned-container' | 'timeout-exceeded' | 'failover-slow';

export const INVARIANTS: Invariant[] = ['lost', 'stranded', 'gpu-double-assigned', 'billed-not-once', 'orphaned-container', 'timeout-exceeded', 'failover-slow'];

/** `at`: when what went wrong began (an attempt's start, a sample's time); `detectedAt`: when the suite saw it. */
export interface Violation { invariant: Invariant; at: number; detectedAt: number; key: string; detail: string; fault?: number }

const ACTIVE = `('STARTING', 'RUNNING')`;

interface SeenContainer {
  id: string; jobId: string; attempt: number; workerId: string; devices: string[];
  startedAt: number; firstSeen: number; lastSeen: number;
}

/**
 * Samples Postgres (active attempts' GPU devices) and the Docker engine
 * (running job containers of this run, their GPU device requests and real
 * start times) during the whole run, and runs the SQL + `docker ps` checks.
 * Each violation is keyed so a lasting one is reported once.
 */
export class Monitor {
  readonly violations: Violation[] = [];
  private readonly keys = new Set<string>();
  readonly containers = new Map<string, SeenContainer>();
  private readonly inspected = new Map<string, { devices: string[]; startedAt: number }>();
  samples = { db: 0, dbFailed: 0, docker: 0, dockerFailed: 0, maxActiveAttempts: 0, maxRunningContainers: 0, maxLoadAvg1m: 0 };
  private timers: NodeJS.Timeout[] = [];
  private busy = { db: false, docker: false };

  constructor(
    private readonly pool: pg.Pool,
    private readonly docker: Docker,
    readonly workerPrefix: string,
    /** Allowed run time past the timeout: the stop grace plus measurement slack. */
    readonly timeoutSlackSeconds: number,
    private readonly timeoutOf: (jobId: string) => number | undefined,
  ) {}

  add(v: Omit<Violation, 'at' | 'detectedAt'> & { at?: number }): boolean {
    if (this.keys.has(`${v.invariant}:${v.key}`)) return false;
    this.keys.add(`${v.invariant}:${v.key}`);
    const now = Date.now();
    this.violations.push({ at: now, detectedAt: now, ...v });
    return true;
  }

  start(): void {
    this.timers.push(setInterval(() => void this.sampleDb(), 1000));
    this.timers.push(setInterval(() => void this.sampleDocker(), 1500));
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
  }

  /** No GPU device of a worker held by two STARTING/RUNNING attempts in the same snapshot. */
  async sampleDb(): Promise<void> {
    if (this.busy.db) return;
    this.busy.db = true;
    try {
      const { rows } = await this.pool.query(
        `SELECT a.worker_id, d.dev, array_agg(a.job_id || '#' || a.attempt ORDER BY a.job_id) AS holders,
                (SELECT count(*) FROM job_attempts WHERE status IN ${ACTIVE})::int AS active
         FROM job_attempts a CROSS JOIN LATERAL unnest(a.gpu_devices) AS d(dev)
         WHERE a.status IN ${ACTIVE} GROUP BY 1, 2 HAVING count(*) > 1`,
      );
      this.samples.db++;
      this.samples.maxLoadAvg1m = Math.max(this.samples.maxLoadAvg1m, Math.round(loadavg()[0] * 10) / 10);
      for (const r of rows) {
        this.add({ invariant: 'gpu-double-assigned', key: `db:${r.worker_id}:${r.dev}:${r.holders.join(',')}`,
          detail: `Postgres: GPU ${r.dev} of ${r.worker_id} held by active attempts ${r.holders.join(' and ')}` });
      }
      const active = (await this.pool.query(`SELECT count(*)::int AS n FROM job_attempts WHERE status IN ${ACTIVE}`)).rows[0].n;
      this.samples.maxActiveAttempts = Math.max(this.samples.maxActiveAttempts, active);
    } catch {
      this.samples.dbFailed++;
    } finally {
      this.busy.db = false;
    }
  }

  /** Running job containers of this run, as Docker sees them. */
  async runningContainers(): Promise<SeenContainer[]> {
    // The send time: Docker's answer says these were running at least then (a conservative run time).
    const now = Date.now();
    const list = await this.docker.listContainers({ filters: { label: ['gpubatch.worker-id'], status: ['running'] } });
    const out: SeenContainer[] = [];
    for (const c of list) {
      const workerId = c.Labels['gpubatch.worker-id'];
      if (!workerId?.startsWith(this.workerPrefix)) continue;
      let info = this.inspected.get(c.Id);
      if (!info) {
        try {
          const i = await this.docker.getContainer(c.Id).inspect();
          const devices = (i.HostConfig.DeviceRequests ?? []).flatMap((d) => d.DeviceIDs ?? []);
          info = { devices, startedAt: Date.parse(i.State.StartedAt) };
          this.inspected.set(c.Id, info);
        } catch {
          continue; // gone between list and inspect
        }
      }
      const seen = this.containers.get(c.Id) ?? {
        id: c.Id, jobId: c.Labels['gpubatch.job-id'], attempt: Number(c.Labels['gpubatch.attempt']), workerId,
        devices: info.devices, startedAt: info.startedAt, firstSeen: now, lastSeen: now,
      };
      seen.lastSeen = now;
      this.containers.set(c.Id, seen);
      out.push(seen);
    }
    return out;
  }

  /** Physical truth: no two running containers of one worker with the same GPU device; no container past its timeout. */
  async sampleDocker(): Promise<void> {
    if (this.busy.docker) return;
    this.busy.docker = true;
    try {
      const running = await this.runningContainers();
      this.samples.docker++;
      this.samples.maxRunningContainers = Math.max(this.samples.maxRunningContainers, running.length);
      const byDevice = new Map<string, SeenContainer[]>();
      for (const c of running) {
        for (const d of c.devices) byDevice.set(`${c.workerId}:${d}`, [...(byDevice.get(`${c.workerId}:${d}`) ?? []), c]);
        this.checkContainerTimeout(c);
      }
      for (const [dev, holders] of byDevice) {
        if (holders.length < 2) continue;
        const names = holders.map((h) => `${h.jobId}#${h.attempt}`).sort();
        if (this.keys.has(`gpu-double-assigned:docker:${dev}:${names.join(',')}`)) continue;
        // What Postgres says of those attempts at that moment: the detail a fix needs.
        const { rows } = await this.pool.query(
          `SELECT job_id || '#' || attempt AS k, status, worker_id, gpu_devices, reason FROM job_attempts
           WHERE (job_id, attempt) IN (SELECT * FROM unnest($1::text[], $2::int[]))`,
          [holders.map((h) => h.jobId), holders.map((h) => h.attempt)],
        ).catch(() => ({ rows: [] as any[] }));
        const db = rows.map((r: any) => `${r.k} ${r.status} on ${r.worker_id} gpus [${r.gpu_devices}]${r.reason ? ` (${r.reason})` : ''}`).join('; ');
        this.add({ invariant: 'gpu-double-assigned', key: `docker:${dev}:${names.join(',')}`,
          detail: `Docker: GPU ${dev.split(':')[1]} of ${dev.split(':')[0]} in running containers of ${names.join(' and ')}; Postgres then: ${db || 'unreachable'}` });
      }
    } catch {
      this.samples.dockerFailed++;
    } finally {
      this.busy.docker = false;
    }
  }

  private checkContainerTimeout(c: SeenContainer): void {
    const timeout = this.timeoutOf(c.jobId);
    if (timeout === undefined) return;
    const ran = (c.lastSeen - c.startedAt) / 1000;
    if (ran > timeout + this.timeoutSlackSeconds) {
      this.add({ invariant: 'timeout-exceeded', key: `${c.jobId}#${c.attempt}`, at: c.startedAt,
        detail: `container of ${c.jobId}#${c.attempt} on ${c.workerId} still running ${ran.toFixed(1)} s after its start; timeout ${timeout} s + ${this.timeoutSlackSeconds} s allowed` });
    }
  }

  /** SQL: attempts that ran (or are running) longer than their timeout + grace + slack. */
  async checkTimeouts(): Promise<void> {
    const { rows } = await this.pool.query(
      `SELECT a.job_id, a.attempt, a.worker_id, a.status, a.reason, j.timeout_seconds, a.started_at,
              EXTRACT(EPOCH FROM (COALESCE(a.stopped_at, now()) - a.started_at))::float AS ran
       FROM job_attempts a JOIN jobs j ON j.id = a.job_id
       WHERE j.timeout_seconds IS NOT NULL AND a.started_at IS NOT NULL
         AND COALESCE(a.stopped_at, now()) - a.started_at > make_interval(secs => j.timeout_seconds + $1::float)`,
      [this.timeoutSlackSeconds],
    );
    for (const r of rows) {
      this.add({ invariant: 'timeout-exceeded', key: `${r.job_id}#${r.attempt}`, at: Date.parse(r.started_at),
        detail: `Postgres: attempt ${r.job_id}#${r.attempt} on ${r.worker_id} (${r.status}${r.reason ? `, ${r.reason}` : ''}) ran ${r.ran.toFixed(1)} s; timeout ${r.timeout_seconds} s + ${this.timeoutSlackSeconds} s allowed` });
    }
  }

  /** SQL: every started attempt has exactly one usage row; a finished attempt's row is settled. */
  async checkUsage(): Promise<void> {
    const { rows } = await this.pool.query(
      `SELECT a.job_id, a.attempt, a.status, a.worker_id, a.started_at, count(u.id)::int AS n, (count(u.id) FILTER (WHERE u.running))::int AS open
       FROM job_attempts a LEFT JOIN usage u ON u.job_id = a.job_id AND u.attempt = a.attempt
       WHERE a.started_at IS NOT NULL GROUP BY 1, 2, 3, 4, 5
       HAVING count(u.id) <> 1 OR (a.status NOT IN ${ACTIVE} AND count(u.id) FILTER (WHERE u.running) > 0)`,
    );
    for (const r of rows) {
      const what = r.n === 0 ? 'no usage row' : r.n > 1 ? `${r.n} usage rows (billed ${r.n} times)` : 'its usage row is still open (running) although the attempt ended';
      this.add({ invariant: 'billed-not-once', key: `${r.job_id}#${r.attempt}:${r.n}:${r.open}`, at: Date.parse(r.started_at),
        detail: `attempt ${r.job_id}#${r.attempt} (${r.status}, ${r.worker_id}): ${what}` });
    }
  }

  /**
   * docker ps vs SQL: a running container of this run must belong to a
   * STARTING/RUNNING attempt of the same worker. Seen twice `confirmMs`
   * apart, so a container caught between its exit and its report is no orphan.
   */
  async checkOrphans(confirmMs: number, final = false): Promise<void> {
    const suspects = await this.unowned();
    if (suspects.length === 0) return;
    if (!final) await new Promise((r) => setTimeout(r, confirmMs));
    const still = new Set((await this.unowned()).map((c) => c.container.id));
    for (const s of suspects) {
      if (!still.has(s.container.id)) continue;
      const c = s.container;
      this.add({ invariant: 'orphaned-container', key: c.id, at: c.startedAt,
        detail: `container ${c.id.slice(0, 12)} of ${c.jobId}#${c.attempt} on ${c.workerId} running ${((Date.now() - c.startedAt) / 1000).toFixed(0)} s; ${s.why}` });
    }
  }

  private async unowned(): Promise<{ container: SeenContainer; why: string }[]> {
    const running = await this.runningContainers();
    if (running.length === 0) return [];
    const { rows } = await this.pool.query(
      `SELECT job_id, attempt, worker_id, status, reason FROM job_attempts WHERE (job_id, attempt) IN (SELECT * FROM unnest($1::text[], $2::int[]))`,
      [running.map((c) => c.jobId), running.map((c) => c.attempt)],
    );
    const byKey = new Map(rows.map((r: any) => [`${r.job_id}#${r.attempt}`, r]));
    const out: { container: SeenContainer; why: string }[] = [];
    for (const c of running) {
      const a: any = byKey.get(`${c.jobId}#${c.attempt}`);
      if (!a) out.push({ container: c, why: 'no such attempt in Postgres' });
      else if (!['STARTING', 'RUNNING'].includes(a.status)) out.push({ container: c, why: `its attempt is ${a.status}${a.reason ? ` (${a.reason})` : ''}` });
      else if (a.worker_id !== c.workerId) out.push({ container: c, why: `its attempt belongs to ${a.worker_id}` });
    }
    return out;
  }

  /**
   * Mid-run "still progressing": an active attempt older than `minAgeMs` with
   * no running container is a suspect; the final check decides.
   */
  async suspects(minAgeMs: number): Promise<{ key: string; detail: string; createdAt: number }[]> {
    const running = new Set((await this.runningContainers()).map((c) => `${c.jobId}#${c.attempt}@${c.workerId}`));
    const { rows } = await this.pool.query(
      `SELECT a.job_id, a.attempt, a.worker_id, a.status, a.created_at, j.status AS job_status
       FROM job_attempts a JOIN jobs j ON j.id = a.job_id
       WHERE a.status IN ${ACTIVE} AND a.created_at < now() - make_interval(secs => $1::float)`,
      [minAgeMs / 1000],
    );
    return rows
      .filter((r: any) => !running.has(`${r.job_id}#${r.attempt}@${r.worker_id}`))
      .map((r: any) => ({
        key: `${r.job_id}#${r.attempt}`, createdAt: Date.parse(r.created_at),
        detail: `attempt ${r.job_id}#${r.attempt} ${r.status} on ${r.worker_id} since ${new Date(r.created_at).toISOString()}, no running container`,
      }));
  }
}
