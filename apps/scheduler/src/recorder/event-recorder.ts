import { UnrecoverableError } from 'bullmq';
import type { DataSource, EntityManager } from 'typeorm';
import type { SecretBox } from '#libs/config';
import type { Logger } from '#libs/log';
import { decidesGang } from '#libs/core';
import { applyInTransaction, FencedError, settleDependants, type Applied, type Fence, type LifecycleCommand } from '#libs/db';
import { verifyReport, type AttemptExitedEvent, type AttemptPullingEvent, type AttemptRunningEvent, type JobChangedEvent, type LogLine, type WorkerEvent } from '#libs/queue';
import type { AttemptEnding } from '../lifecycle/attempt-ender.js';
import { ClusterState } from '../state/cluster-state.js';
import { loadRunnable } from '../reconciler/rebuild.js';
import { lockRunningUsages, openUsage, openUsages, settleUsage, settleUsages, type AttemptStart, type AttemptStop } from '../billing/metering.js';
import { recordGpuUtilizations } from '../billing/gpu-utilization.js';
import { schedulerMetrics } from '../metrics/scheduler-metrics.js';

/** At most this many reports share one transaction; more wait for the next. */
const MAX_BATCH = 500;

type AttemptReport = AttemptPullingEvent | AttemptRunningEvent | AttemptExitedEvent;

/** Something to record, with the promise of whoever waits for it (a BullMQ job, a system ending attempts). */
interface Waiting {
  event: WorkerEvent | { type: 'scheduler-ended'; ending: AttemptEnding };
  resolve: () => void;
  reject: (err: Error) => void;
}

/** What one batch's read says about a report's attempt: its worker and identity, and its job's node. */
interface AttemptFacts {
  workerId: string | null;
  signingKey: string | null;
  revokedAt: Date | null;
  nodeIndex: number | null;
  mainId: string | null;
}

/** One entry of a shared transaction: a report or an end, with whoever waits for it. */
type Entry = { waiting: Waiting } & (
  | { kind: 'pulling'; e: AttemptPullingEvent }
  | { kind: 'running'; e: AttemptRunningEvent }
  | { kind: 'ended'; e: AttemptEnding; gangNode: boolean }
);

/**
 * Records what workers report into Postgres. Every write is guarded by the
 * state it expects, so a report that arrives twice changes nothing the
 * second time (and bills nothing twice).
 *
 * Reports are recorded in batches, as intake takes submits: every report
 * waiting when a batch starts shares one read (worker auth, multi-node facts)
 * and one transaction (the lifecycle writer's multi-row writes, usage rows
 * opened and settled together, logs), and each waiter is answered when its
 * batch commits. Batches run one at a time, in arrival order, and so do the
 * attempt ends the scheduler decides itself: a job's RUNNING is recorded
 * before its exit. A batch that fails is recorded again report by report,
 * so one bad report fails alone; a deposed leader's batch fails whole.
 */
export class EventRecorder {
  private waiting: Waiting[] = [];
  private flushing = false;
  /** The recording in progress: batches never overlap (they would take usage rollup rows in different orders). */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: DataSource,
    private readonly state: ClusterState,
    /** Something placement may decide differently on; `workers`: a worker joined, drains or left. */
    private readonly onChange: (what?: 'workers') => void,
    private readonly logger: Logger,
    /** The leader's epoch: a deposed leader's reports are refused, not recorded. */
    private readonly fence: () => Fence | undefined = () => undefined,
    /** `required`: an attempt report is recorded only when signed by the worker the attempt was placed on. */
    private readonly workerAuth: 'required' | 'off' = 'off',
    /** Opens signing keys stored sealed (GPUBATCH_SECRET_KEY); keys in clear need none. */
    private readonly secrets: SecretBox | null = null,
    /** Stops an attempt's container on its worker (withdraws it when no worker claimed it): the other nodes of an ended gang. */
    private readonly stopAttempt: (workerId: string, jobId: string, attempt: number, reason: string) => Promise<void> = async () => {},
  ) {}

  /** Records one report with every other report waiting; resolves once its batch committed, rejects with its own error. */
  record(event: WorkerEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ event, resolve, reject });
      if (this.flushing) return;
      this.flushing = true;
      // The reports fetched meanwhile join this batch.
      setImmediate(() => void this.flush());
    });
  }

  /**
   * Ends attempts the scheduler decided (lost worker, lost container,
   * timeout), in one batch, as the same lifecycle command as a worker's exit
   * report: an attempt that already ended is left as it is. Throws the first
   * error after trying every one.
   */
  async endAttempts(ends: readonly AttemptEnding[]): Promise<void> {
    if (ends.length === 0) return;
    const results = ends.map((ending) => {
      let waiting!: Waiting;
      const done = new Promise<void>((resolve, reject) => (waiting = { event: { type: 'scheduler-ended', ending }, resolve, reject }));
      return { waiting, done: done.then(() => undefined, (err: Error) => err) };
    });
    const batch = results.map((r) => r.waiting);
    await this.serially(() => this.recordBatch(batch)).catch((err: Error) => batch.forEach((w) => w.reject(err)));
    const errors = (await Promise.all(results.map((r) => r.done))).filter((e): e is Error => e !== undefined);
    if (errors.length) throw errors[0];
  }

  private async flush(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, MAX_BATCH);
      // Whatever went wrong, every waiter gets an answer (a settled one keeps its own) and the next batch runs.
      await this.serially(() => this.recordBatch(batch)).catch((err: Error) => batch.forEach((w) => w.reject(err)));
    }
    this.flushing = false;
  }

  private serially(work: () => Promise<void>): Promise<void> {
    const run = this.tail.then(work, work);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Records a batch in order: attempt reports together, a gang's end and a cancel notice each at its place. */
  private async recordBatch(batch: Waiting[]): Promise<void> {
    let facts: (AttemptFacts | undefined)[];
    try {
      facts = await this.facts(batch);
    } catch (err) {
      for (const w of batch) w.reject(err as Error);
      return;
    }
    let segment: Entry[] = [];
    const flush = async () => {
      if (segment.length) await this.recordSegment(segment);
      segment = [];
    };
    for (const [i, waiting] of batch.entries()) {
      const { event } = waiting;
      const fact = facts[i];
      if (event.type === 'worker-changed') {
        this.onChange('workers');
        waiting.resolve();
        continue;
      }
      if (event.type === 'job-changed') {
        await flush();
        await this.jobChanged(event).then(waiting.resolve, waiting.reject);
        continue;
      }
      if (event.type !== 'scheduler-ended') {
        const refusal = this.refusal(event, fact);
        if (refusal) {
          waiting.reject(refusal);
          continue;
        }
      }
      if (event.type === 'attempt-pulling') segment.push({ waiting, kind: 'pulling', e: event });
      else if (event.type === 'attempt-running') segment.push({ waiting, kind: 'running', e: event });
      else {
        const ending = event.type === 'scheduler-ended' ? event.ending : exitedEnding(event);
        const gangNode = fact?.nodeIndex !== null && fact?.nodeIndex !== undefined;
        if (gangNode && decidesGang(fact!.nodeIndex!, ending.end)) {
          await flush();
          await this.endGang(ending, fact!.nodeIndex!, fact!.mainId!).then(waiting.resolve, waiting.reject);
          continue;
        }
        segment.push({ waiting, kind: 'ended', e: ending, gangNode });
      }
    }
    await flush();
  }

  /** One read for the whole batch: each attempt's worker and identity (for worker auth) and its job's node. */
  private async facts(batch: Waiting[]): Promise<(AttemptFacts | undefined)[]> {
    // Ends need their job's node; with worker auth on, every report needs its attempt's worker.
    const auth = this.workerAuth === 'required';
    const keyed = batch.map(({ event: e }) => e.type === 'scheduler-ended' ? e.ending
      : e.type === 'attempt-exited' || (auth && (e.type === 'attempt-pulling' || e.type === 'attempt-running')) ? e : undefined);
    const asked = keyed.flatMap((k, i) => (k ? [{ i, jobId: k.jobId, attempt: k.attempt }] : []));
    const facts: (AttemptFacts | undefined)[] = new Array(batch.length).fill(undefined);
    if (asked.length === 0) return facts;
    const rows: { n: string; worker_id: string | null; signing_key: string | null; revoked_at: Date | null; node_index: number | null; main_id: string | null }[] =
      await this.db.query(
        `SELECT r.n, a.worker_id, i.signing_key, i.revoked_at, j.node_index, COALESCE(j.parent_id, j.id) AS main_id
         FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS r(job_id, attempt, n)
         LEFT JOIN jobs j ON j.id = r.job_id
         LEFT JOIN job_attempts a ON a.job_id = r.job_id AND a.attempt = r.attempt
         LEFT JOIN worker_identities i ON i.worker_id = a.worker_id`,
        [asked.map((a) => a.jobId), asked.map((a) => a.attempt)],
      );
    for (const r of rows) {
      facts[asked[Number(r.n) - 1].i] = {
        workerId: r.worker_id, signingKey: r.signing_key, revokedAt: r.revoked_at, nodeIndex: r.node_index, mainId: r.main_id,
      };
    }
    return facts;
  }

  /**
   * With worker auth on, a report speaks only for its own attempt: the attempt
   * must have been placed on the worker the report names, that worker's
   * identity must not be revoked, and the report must be signed with that
   * worker's key. Anything else is refused (never recorded) and logged; the
   * BullMQ job fails without retries, so an honest worker's outbox sends its
   * own report again, signed afresh.
   */
  private refusal(e: AttemptReport, fact: AttemptFacts | undefined): RefusedReportError | null {
    if (this.workerAuth !== 'required') return null;
    const why = !fact?.workerId ? 'no such attempt'
      : fact.workerId !== e.workerId ? `the attempt was placed on ${fact.workerId}`
      : !fact.signingKey ? 'the worker has no identity: it did not join with a token (set WORKER_JOIN_TOKEN on it, or GPUBATCH_WORKER_AUTH=off on the scheduler for a one-machine dev setup)'
      : fact.revokedAt ? 'the worker was revoked'
      : !this.verify(e, fact.workerId, fact.signingKey) ? 'bad or missing signature, or a signing key this scheduler cannot open'
      : null;
    if (why === null) return null;
    this.logger.warn({ jobId: e.jobId, attempt: e.attempt, workerId: e.workerId, type: e.type, why }, 'refused a worker report');
    return new RefusedReportError(`report refused: ${why}`);
  }

  /** Checks the signature with the worker's key, stored in clear (64 hex digits) or sealed; a key that cannot be opened verifies nothing. */
  private verify(e: WorkerEvent, workerId: string, stored: string): boolean {
    let key = stored;
    if (!/^[0-9a-f]{64}$/.test(stored)) {
      try {
        if (!this.secrets) throw new Error('the signing key is sealed and this scheduler has no GPUBATCH_SECRET_KEY');
        key = this.secrets.openSigningKey(workerId, stored);
      } catch (error) {
        this.logger.error({ err: error, workerId }, 'cannot open a worker\'s signing key: its reports are refused');
        return false;
      }
    }
    return verifyReport(e, key);
  }

  /**
   * Records a run of reports in one transaction. If it fails, each is
   * recorded again alone (so one bad report fails by itself), except when
   * this leader was deposed: then nothing of it can be recorded.
   */
  private async recordSegment(entries: Entry[]): Promise<void> {
    try {
      await this.recordTogether(entries);
      for (const entry of entries) entry.waiting.resolve();
    } catch (err) {
      if (entries.length === 1 || err instanceof FencedError) {
        for (const entry of entries) entry.waiting.reject(err as Error);
        return;
      }
      for (const entry of entries) {
        await this.recordTogether([entry]).then(entry.waiting.resolve, entry.waiting.reject);
      }
    }
  }

  /**
   * The transaction of a run of reports: the lifecycle writer decides and
   * writes every status move (a job's commands in order); the meters of
   * started attempts open, those of ended ones settle (each once: only a
   * running row settles); then outputs and GPU samples. After the commit,
   * what ended is freed, retries are taken in and dependants settled.
   */
  private async recordTogether(entries: Entry[]): Promise<void> {
    const { ended, finished, retried } = await this.db.transaction(async (tx) => {
      const commands: LifecycleCommand[] = [];
      const owners: Entry[] = [];
      const add = (entry: Entry, c: LifecycleCommand) => {
        commands.push(c);
        owners.push(entry);
      };
      for (const entry of entries) {
        if (entry.kind === 'pulling') {
          const { e } = entry;
          add(entry, { jobId: e.jobId, command: { type: 'image-pulling', attempt: e.attempt, workerId: e.workerId, image: e.image } });
        } else if (entry.kind === 'running') {
          const { e } = entry;
          add(entry, { jobId: e.jobId, containerId: e.containerId, command: { type: 'container-started', attempt: e.attempt, workerId: e.workerId, startedAt: new Date(e.startedAt) } });
        } else {
          const { e } = entry;
          // A start never recorded (the container exited at once, or the report was lost) is recorded first, so the meter opens.
          if (e.startedAt) {
            add(entry, { jobId: e.jobId, containerId: e.containerId, command: { type: 'container-started', attempt: e.attempt, workerId: e.workerId, startedAt: e.startedAt } });
          }
          add(entry, { jobId: e.jobId, containerId: e.containerId, command: { type: 'attempt-ended', attempt: e.attempt, end: e.end, stoppedAt: e.stoppedAt } });
        }
      }
      const applied = await applyInTransaction(tx, commands, this.fence());

      const starts: AttemptStart[] = [];
      const endedHere = new Map<Entry, Applied>();
      for (const [i, a] of applied.entries()) {
        if (a.transition.outcome !== 'applied') continue;
        // The meter runs from the container's real start, at the rates of that moment; its exit settles it.
        if (a.command.type === 'container-started') starts.push({ jobId: a.jobId, attempt: a.command.attempt, startedAt: a.command.startedAt });
        if (a.command.type === 'attempt-ended') endedHere.set(owners[i], a);
      }
      const endings = entries.filter((x): x is Extract<Entry, { kind: 'ended' }> => x.kind === 'ended');
      const bills: AttemptStop[] = endings.filter((x) => endedHere.has(x)).map((x) => ({ jobId: x.e.jobId, attempt: x.e.attempt, stoppedAt: x.e.stoppedAt }));
      // A node of a multi-node job the main node's end stopped: its own report comes late, with its output. Its start was
      // never recorded (the gang ended first), yet its container ran: billed from its real start to its real stop.
      const late = uniqueAttempts(endings.filter((x) => !endedHere.has(x) && x.gangNode));
      const lateStarts = late.filter((x) => x.e.startedAt).map((x) => ({ jobId: x.e.jobId, attempt: x.e.attempt, startedAt: x.e.startedAt! }));
      const lateStops = late.filter((x) => x.e.startedAt).map((x) => ({ jobId: x.e.jobId, attempt: x.e.attempt, stoppedAt: x.e.stoppedAt }));

      // The running rows to settle are locked before any usage row is written here (as the accrual locks them), so a
      // rollup row this transaction writes is never held while it waits for the accrual.
      await lockRunningUsages(tx, [...bills, ...lateStops]);
      // Opened once per attempt: a row that exists already is left as it is.
      const metered = await openUsages(tx, [...starts, ...lateStarts]);
      const startedAt = new Map(starts.map((x) => [`${x.jobId}:${x.attempt}`, x.startedAt]));
      for (const m of metered) {
        // Submit to first start, for the latency histogram: only a first attempt's start counts (a retry's wait is not a submit's).
        const start = startedAt.get(`${m.jobId}:${m.attempt}`);
        if (m.attempt === 1 && start) {
          schedulerMetrics.submitToStart.observe({ queue: m.queue }, Math.max(0, (start.getTime() - m.createdAt.getTime()) / 1000));
        }
      }
      // Billed once: only a transition that closed the attempt bills, and only a running usage row is settled.
      const settled = await settleUsages(tx, [...bills, ...lateStops]);
      await this.billUnmetered(tx, bills.filter((b) => !settled.has(`${b.jobId}:${b.attempt}`)));

      const billed = endings.filter((x) => endedHere.has(x));
      await recordGpuUtilizations(tx, billed.filter((x) => x.e.gpuUtilization).map((x) => ({ jobId: x.e.jobId, attempt: x.e.attempt, utilization: x.e.gpuUtilization! })));
      await insertLogs(tx, billed.filter((x) => x.e.logs?.length).map((x) => ({ jobId: x.e.jobId, attempt: x.e.attempt, logs: x.e.logs! })), false);
      await insertLogs(tx, late.filter((x) => x.e.logs?.length).map((x) => ({ jobId: x.e.jobId, attempt: x.e.attempt, logs: x.e.logs! })), true);
      await recordLateRuns(tx, late.map((x) => x.e));

      const moved = billed.map((x) => ({ jobId: x.e.jobId, t: endedHere.get(x)!.transition }));
      return {
        ended: endings,
        finished: moved.filter((m) => m.t.outcome === 'applied' && (m.t.to === 'SUCCEEDED' || m.t.to === 'FAILED')),
        retried: moved.filter((m) => m.t.outcome === 'applied' && m.t.to === 'RUNNABLE').map((m) => m.jobId),
      };
    });
    for (const x of ended) this.state.release(x.e.workerId, ClusterState.attemptKey(x.e.jobId, x.e.attempt));
    for (const f of finished) {
      if (f.t.outcome === 'applied') this.logger.info({ jobId: f.jobId, status: f.t.to, reason: f.t.reason }, 'job finished');
    }
    if (retried.length) await loadRunnable(this.db, this.state, retried);
    if (finished.length) await this.settle(finished.map((f) => f.jobId));
    if (ended.length) this.onChange();
  }

  /** Attempts whose end applied without a running usage row (started under an earlier meter-less path): opened from the recorded start, then settled. */
  private async billUnmetered(tx: EntityManager, stops: AttemptStop[]): Promise<void> {
    if (stops.length === 0) return;
    const rows: { job_id: string; attempt: number; started_at: Date }[] = await tx.query(
      `SELECT job_id, attempt, started_at FROM job_attempts
       WHERE (job_id, attempt) IN (SELECT * FROM unnest($1::text[], $2::int[])) AND started_at IS NOT NULL`,
      [stops.map((s) => s.jobId), stops.map((s) => s.attempt)],
    );
    if (rows.length === 0) return; // never started: nothing to bill
    await openUsages(tx, rows.map((r) => ({ jobId: r.job_id, attempt: r.attempt, startedAt: r.started_at })));
    const started = new Set(rows.map((r) => `${r.job_id}:${r.attempt}`));
    await settleUsages(tx, stops.filter((s) => started.has(`${s.jobId}:${s.attempt}`)));
  }

  /** Cancelled in Postgres by the API (an array parent: with its children): out of the model, and what depends on them fails. */
  private async jobChanged(event: JobChangedEvent): Promise<void> {
    // They must not wait, reserve or be placed any more.
    const stopped: { id: string }[] = await this.db.query(
      `SELECT id FROM jobs WHERE (id = $1 OR parent_id = $1) AND status <> 'RUNNABLE'`, [event.jobId],
    );
    for (const { id } of stopped) {
      this.state.runnable.delete(id);
      this.state.reasons.delete(id);
    }
    // An attempt the API ended before any worker claimed it (a terminate): what it held is free.
    const ended: { job_id: string; attempt: number; worker_id: string }[] = await this.db.query(
      `SELECT a.job_id, a.attempt, a.worker_id FROM job_attempts a JOIN jobs j ON j.id = a.job_id AND a.attempt = j.attempt_count
       WHERE (j.id = $1 OR j.parent_id = $1) AND a.status NOT IN ('STARTING', 'RUNNING')`, [event.jobId],
    );
    for (const a of ended) this.state.release(a.worker_id, ClusterState.attemptKey(a.job_id, a.attempt));
    await this.settle(stopped.map((r) => r.id));
    this.onChange();
  }

  /**
   * One node's end decides its multi-node job's attempt (the main node's end,
   * or any node's failure): every node moves in one transaction with the same
   * verdict (all retry, or all finish). Nodes still running are billed until
   * now, freed, and their containers stopped. A late report of a node stopped
   * this way finds its attempt ended and only adds its output.
   */
  private async endGang(e: AttemptEnding, nodeIndex: number, mainId: string): Promise<void> {
    const now = new Date();
    const result = await this.db.transaction(async (tx) => {
      const nodes: { id: string; attempt_count: number; worker_id: string | null; open: boolean }[] = await tx.query(
        `SELECT j.id, j.attempt_count, a.worker_id, COALESCE(a.status IN ('STARTING', 'RUNNING'), false) AS open
         FROM jobs j LEFT JOIN job_attempts a ON a.job_id = j.id AND a.attempt = j.attempt_count
         WHERE (j.id = $1 OR j.parent_id = $1) AND j.node_index IS NOT NULL ORDER BY j.node_index`,
        [mainId],
      );
      const commands: LifecycleCommand[] = e.startedAt
        ? [{ jobId: e.jobId, containerId: e.containerId, command: { type: 'container-started', attempt: e.attempt, workerId: e.workerId, startedAt: e.startedAt } }]
        : [];
      for (const n of nodes) {
        const own = n.id === e.jobId;
        commands.push({
          jobId: n.id, containerId: own ? e.containerId : undefined,
          command: { type: 'gang-ended', attempt: e.attempt, decidedBy: { nodeIndex, end: e.end }, ownEnd: own ? e.end : null, stoppedAt: own ? e.stoppedAt : now },
        });
      }
      const applied = await applyInTransaction(tx, commands, this.fence());
      if (applied.some((a) => a.command.type === 'container-started' && a.transition.outcome === 'applied') && e.startedAt) {
        await openUsage(tx, e.jobId, e.attempt, e.startedAt);
      }
      const ended = applied.filter((a) => a.command.type === 'gang-ended' && a.transition.outcome === 'applied');
      for (const a of ended) {
        const n = nodes.find((x) => x.id === a.jobId)!;
        if (n.open || a.jobId === e.jobId) await this.bill(tx, a.jobId, e.attempt, a.jobId === e.jobId ? e.stoppedAt : now);
      }
      const own = ended.find((a) => a.jobId === e.jobId);
      if (e.logs?.length) await insertLogs(tx, [{ jobId: e.jobId, attempt: e.attempt, logs: e.logs }], !own);
      if (!own) {
        // This node's own report came after the gang's end: its run is recorded and billed from its real start to its stop.
        await recordLateRuns(tx, [e]);
        await this.bill(tx, e.jobId, e.attempt, e.stoppedAt);
      }
      return { nodes, ended, to: own?.transition.outcome === 'applied' ? own.transition.to : undefined };
    });
    this.state.release(e.workerId, ClusterState.attemptKey(e.jobId, e.attempt));
    if (result.ended.length === 0) return this.onChange(); // a repeated or late report
    this.logger.info({ jobId: mainId, decidedBy: nodeIndex, status: result.to }, 'multi-node attempt ended on every node');
    for (const n of result.nodes) {
      if (!n.worker_id) continue;
      this.state.release(n.worker_id, ClusterState.attemptKey(n.id, e.attempt));
      if (n.id === e.jobId || !n.open) continue;
      await this.stopAttempt(n.worker_id, n.id, e.attempt, `node ${nodeIndex} of the job ended`).catch((err: Error) =>
        // The attempt is ended in Postgres: the worker's next heartbeat lists it, and reconciliation stops it.
        this.logger.warn({ err, jobId: n.id, workerId: n.worker_id }, 'could not ask the worker to stop a node of an ended multi-node job'));
    }
    if (result.to === 'RUNNABLE') await loadRunnable(this.db, this.state, [mainId]);
    if (result.to === 'SUCCEEDED' || result.to === 'FAILED') await this.settle(result.nodes.map((n) => n.id));
    this.onChange();
  }

  /** Billed once: only a transition that closed the attempt gets here, and only a running usage row is settled. */
  private async bill(tx: EntityManager, jobId: string, attempt: number, stoppedAt: Date): Promise<void> {
    if (await settleUsage(tx, jobId, attempt, stoppedAt)) return;
    // An attempt that started under an earlier meter-less path: open it from the recorded start, then settle.
    const [row] = await tx.query(`SELECT started_at FROM job_attempts WHERE job_id = $1 AND attempt = $2`, [jobId, attempt]);
    if (!row?.started_at) return; // never started: nothing to bill
    await openUsage(tx, jobId, attempt, row.started_at);
    await settleUsage(tx, jobId, attempt, stoppedAt);
  }

  /** Wakes or fails the jobs that depend on jobs that just finished. */
  private async settle(finished: string[]): Promise<void> {
    const runnable = await settleDependants(this.db, finished);
    if (runnable.length) await loadRunnable(this.db, this.state, runnable);
  }
}

/** An exit report as the end it records. */
function exitedEnding(e: AttemptExitedEvent): AttemptEnding {
  return {
    jobId: e.jobId, attempt: e.attempt, workerId: e.workerId, containerId: e.containerId, end: e.end, logs: e.logs,
    startedAt: e.startedAt ? new Date(e.startedAt) : null, stoppedAt: new Date(e.stoppedAt), gpuUtilization: e.gpuUtilization,
  };
}

/** The first entry of each attempt (a report that came twice in one batch counts once). */
function uniqueAttempts<T extends { e: { jobId: string; attempt: number } }>(entries: T[]): T[] {
  const seen = new Set<string>();
  return entries.filter((x) => {
    const key = `${x.e.jobId}:${x.e.attempt}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * The container and start of gang nodes whose own report came after the
 * gang's end: the end moved their status, so no transition records them,
 * yet users look up a node's container and start on its attempt. Only
 * what is still missing is filled in; the status and end stay the gang's.
 */
async function recordLateRuns(tx: EntityManager, endings: readonly AttemptEnding[]): Promise<void> {
  if (endings.length === 0) return;
  const params = [endings.map((e) => e.jobId), endings.map((e) => e.attempt), endings.map((e) => e.startedAt), endings.map((e) => e.containerId ?? null)];
  await tx.query(
    `UPDATE job_attempts a SET started_at = COALESCE(a.started_at, l.started_at), container_id = COALESCE(a.container_id, l.container_id)
     FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::text[]) AS l(job_id, attempt, started_at, container_id)
     WHERE a.job_id = l.job_id AND a.attempt = l.attempt AND (a.started_at IS NULL OR a.container_id IS NULL)`,
    params,
  );
  await tx.query(
    `UPDATE jobs j SET started_at = l.started_at
     FROM unnest($1::text[], $2::int[], $3::timestamptz[]) AS l(job_id, attempt, started_at)
     WHERE j.id = l.job_id AND j.started_at IS NULL AND l.started_at IS NOT NULL`,
    params.slice(0, 3),
  );
}

/**
 * The output of attempts, in one insert. `onlyNew`: only for attempts that
 * have none recorded yet (a stopped node of a gang, whose own report comes late).
 */
async function insertLogs(tx: EntityManager, outputs: readonly { jobId: string; attempt: number; logs: LogLine[] }[], onlyNew: boolean): Promise<void> {
  const lines = outputs.flatMap((o) => o.logs.map((l) => ({ jobId: o.jobId, attempt: o.attempt, l })));
  if (lines.length === 0) return;
  await tx.query(
    `INSERT INTO job_logs (job_id, attempt, stream, at, text)
     SELECT l.job_id, l.attempt, l.stream, l.at, l.text
     FROM unnest($1::text[], $2::int[], $3::text[], $4::timestamptz[], $5::text[]) WITH ORDINALITY AS l(job_id, attempt, stream, at, text, n)
     WHERE NOT $6 OR NOT EXISTS (SELECT 1 FROM job_logs x WHERE x.job_id = l.job_id AND x.attempt = l.attempt)
     ORDER BY l.n`,
    [lines.map((x) => x.jobId), lines.map((x) => x.attempt), lines.map((x) => x.l.stream), lines.map((x) => x.l.at),
      // Postgres text cannot hold NUL bytes; a binary-spewing job must not lose its exit record.
      lines.map((x) => x.l.text.replaceAll('\u0000', '')), onlyNew],
  );
}

/** A report that does not speak for its own attempt: failed at once, never recorded. */
export class RefusedReportError extends UnrecoverableError {
  constructor(message: string) {
    super(message);
    this.name = 'RefusedReportError';
  }
}
