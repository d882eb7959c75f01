import { UnrecoverableError } from 'bullmq';
import type { DataSource, EntityManager } from 'typeorm';
import type { SecretBox } from '#libs/config';
import type { Logger } from '#libs/log';
import { decidesGang } from '#libs/core';
import { applyInTransaction, settleDependants, type Fence, type LifecycleCommand } from '#libs/db';
import { verifyReport, type AttemptExitedEvent, type AttemptPullingEvent, type AttemptRunningEvent, type LogLine, type WorkerEvent } from '#libs/queue';
import type { AttemptEnding } from '../lifecycle/attempt-ender.js';
import { ClusterState } from '../state/cluster-state.js';
import { loadRunnable } from '../reconciler/rebuild.js';
import { openUsage, settleUsage } from '../billing/metering.js';
import { recordGpuUtilization } from '../billing/gpu-utilization.js';
import { schedulerMetrics } from '../metrics/scheduler-metrics.js';

/**
 * Records what workers report into Postgres. Every write is guarded by the
 * state it expects, so a report that arrives twice changes nothing the
 * second time (and bills nothing twice).
 */
export class EventRecorder {
  constructor(
    private readonly db: DataSource,
    private readonly state: ClusterState,
    private readonly onChange: () => void,
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

  async record(event: WorkerEvent): Promise<void> {
    switch (event.type) {
      case 'attempt-pulling':
        await this.authenticate(event);
        return this.pulling(event);
      case 'attempt-running':
        await this.authenticate(event);
        return this.running(event);
      case 'attempt-exited':
        await this.authenticate(event);
        return this.exited(event);
      case 'worker-changed':
        return this.onChange();
      case 'job-changed': {
        // Cancelled in Postgres by the API (an array parent: with its children): they must not wait, reserve
        // or be placed any more, and what depends on them fails.
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
        return this.onChange();
      }
    }
  }

  /**
   * With worker auth on, a report speaks only for its own attempt: the attempt
   * must have been placed on the worker the report names, that worker's
   * identity must not be revoked, and the report must be signed with that
   * worker's key. Anything else is refused (never recorded) and logged; the
   * BullMQ job fails without retries, so an honest worker's outbox sends its
   * own report again, signed afresh.
   */
  private async authenticate(e: AttemptPullingEvent | AttemptRunningEvent | AttemptExitedEvent): Promise<void> {
    if (this.workerAuth !== 'required') return;
    const [row]: { worker_id: string; signing_key: string | null; revoked_at: Date | null }[] = await this.db.query(
      `SELECT a.worker_id, i.signing_key, i.revoked_at FROM job_attempts a LEFT JOIN worker_identities i ON i.worker_id = a.worker_id
       WHERE a.job_id = $1 AND a.attempt = $2`,
      [e.jobId, e.attempt],
    );
    const why = !row ? 'no such attempt'
      : row.worker_id !== e.workerId ? `the attempt was placed on ${row.worker_id}`
      : !row.signing_key ? 'the worker has no identity: it did not join with a token (set WORKER_JOIN_TOKEN on it, or GPUBATCH_WORKER_AUTH=off on the scheduler for a one-machine dev setup)'
      : row.revoked_at ? 'the worker was revoked'
      : !this.verify(e, row.worker_id, row.signing_key) ? 'bad or missing signature, or a signing key this scheduler cannot open'
      : null;
    if (why === null) return;
    this.logger.warn({ jobId: e.jobId, attempt: e.attempt, workerId: e.workerId, type: e.type, why }, 'refused a worker report');
    throw new RefusedReportError(`report refused: ${why}`);
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

  /** The job's reason says its image is being pulled (the lifecycle ignores it once the attempt moved on). */
  private async pulling(e: AttemptPullingEvent): Promise<void> {
    await this.db.transaction((tx) => applyInTransaction(tx, [{
      jobId: e.jobId, command: { type: 'image-pulling', attempt: e.attempt, workerId: e.workerId, image: e.image },
    }], this.fence()));
  }

  private async running(e: AttemptRunningEvent): Promise<void> {
    const startedAt = new Date(e.startedAt);
    await this.db.transaction(async (tx) => {
      const [applied] = await applyInTransaction(tx, [{
        jobId: e.jobId, containerId: e.containerId, command: { type: 'container-started', attempt: e.attempt, workerId: e.workerId, startedAt },
      }], this.fence());
      // The meter runs from the container's real start, at the rates of that moment; its exit settles it.
      if (applied.transition.outcome === 'applied') {
        await openUsage(tx, e.jobId, e.attempt, startedAt);
        await observeFirstStart(tx, e.jobId, e.attempt, startedAt);
      }
    });
  }

  private exited(e: AttemptExitedEvent): Promise<void> {
    return this.endAttempt({
      jobId: e.jobId, attempt: e.attempt, workerId: e.workerId, containerId: e.containerId, end: e.end, logs: e.logs,
      startedAt: e.startedAt ? new Date(e.startedAt) : null, stoppedAt: new Date(e.stoppedAt), gpuUtilization: e.gpuUtilization,
    });
  }

  /**
   * Ends an attempt, as its worker reported it or as the scheduler decided
   * (lost worker, lost container, timeout): the job moves on through the
   * lifecycle writer, the meter settles, what it held is freed, and a retry
   * or its dependants follow. An attempt that already ended is left as it is.
   */
  async endAttempt(e: AttemptEnding): Promise<void> {
    const [node]: { node_index: number | null; main_id: string }[] = await this.db.query(
      `SELECT node_index, COALESCE(parent_id, id) AS main_id FROM jobs WHERE id = $1 AND node_index IS NOT NULL`, [e.jobId],
    );
    if (node && decidesGang(node.node_index!, e.end)) return this.endGang(e, node.node_index!, node.main_id);
    const next = await this.db.transaction(async (tx) => {
      // A start never recorded (the container exited at once, or the report was lost) is recorded first, so the meter opens.
      const commands: LifecycleCommand[] = e.startedAt
        ? [{ jobId: e.jobId, containerId: e.containerId, command: { type: 'container-started', attempt: e.attempt, workerId: e.workerId, startedAt: e.startedAt } }]
        : [];
      commands.push({ jobId: e.jobId, containerId: e.containerId, command: { type: 'attempt-ended', attempt: e.attempt, end: e.end, stoppedAt: e.stoppedAt } });
      const applied = await applyInTransaction(tx, commands, this.fence());
      const started = applied.find((a) => a.command.type === 'container-started' && a.transition.outcome === 'applied');
      if (started && e.startedAt) {
        await openUsage(tx, e.jobId, e.attempt, e.startedAt);
        await observeFirstStart(tx, e.jobId, e.attempt, e.startedAt);
      }
      const ended = applied[applied.length - 1].transition;
      if (ended.outcome !== 'applied') {
        // A node of a multi-node job the main node's end stopped: its own report comes late, with its output.
        if (node && e.logs?.length) await insertLogsOnce(tx, e.jobId, e.attempt, e.logs);
        if (node && e.startedAt) {
          // Its start was never recorded (the gang ended first), yet its container ran: billed from its real start to its real stop.
          // A row that exists already is left as it is (opened once per attempt; only a running row is settled).
          await openUsage(tx, e.jobId, e.attempt, e.startedAt);
          await settleUsage(tx, e.jobId, e.attempt, e.stoppedAt);
        }
        return undefined; // already recorded: a repeated or late report
      }
      await this.bill(tx, e.jobId, e.attempt, e.stoppedAt);
      if (e.gpuUtilization) await recordGpuUtilization(tx, e.jobId, e.attempt, e.gpuUtilization);
      if (e.logs?.length) await insertLogs(tx, e.jobId, e.attempt, e.logs);
      if (ended.to !== 'RUNNABLE') this.logger.info({ jobId: e.jobId, status: ended.to, reason: ended.reason }, 'job finished');
      return ended.to;
    });
    this.state.release(e.workerId, ClusterState.attemptKey(e.jobId, e.attempt));
    if (next === 'RUNNABLE') await loadRunnable(this.db, this.state, [e.jobId]);
    if (next === 'SUCCEEDED' || next === 'FAILED') await this.settle([e.jobId]);
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
      if (e.logs?.length) {
        if (own) await insertLogs(tx, e.jobId, e.attempt, e.logs);
        else await insertLogsOnce(tx, e.jobId, e.attempt, e.logs);
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

/** Submit to first start, for the latency histogram: only a first attempt's start counts (a retry's wait is not a submit's). */
async function observeFirstStart(tx: EntityManager, jobId: string, attempt: number, startedAt: Date): Promise<void> {
  if (attempt !== 1) return;
  const [job]: { queue: string; created_at: Date }[] = await tx.query(`SELECT queue, created_at FROM jobs WHERE id = $1`, [jobId]);
  if (job) schedulerMetrics.submitToStart.observe({ queue: job.queue }, Math.max(0, (startedAt.getTime() - job.created_at.getTime()) / 1000));
}

async function insertLogs(tx: EntityManager, jobId: string, attempt: number, logs: LogLine[]): Promise<void> {
  await tx.query(
    `INSERT INTO job_logs (job_id, attempt, stream, at, text)
     SELECT $1, $2, l.stream, l.at, l.text FROM unnest($3::text[], $4::timestamptz[], $5::text[]) AS l(stream, at, text)`,
    [jobId, attempt, logs.map((l) => l.stream), logs.map((l) => l.at),
      // Postgres text cannot hold NUL bytes; a binary-spewing job must not lose its exit record.
      logs.map((l) => l.text.replaceAll('\u0000', ''))],
  );
}

/** The output of an attempt ended before its worker reported (a stopped node of a gang), unless it was recorded already. */
async function insertLogsOnce(tx: EntityManager, jobId: string, attempt: number, logs: LogLine[]): Promise<void> {
  const [{ has }] = await tx.query(`SELECT EXISTS (SELECT 1 FROM job_logs WHERE job_id = $1 AND attempt = $2) AS has`, [jobId, attempt]);
  if (!has) await insertLogs(tx, jobId, attempt, logs);
}

/** A report that does not speak for its own attempt: failed at once, never recorded. */
export class RefusedReportError extends UnrecoverableError {
  constructor(message: string) {
    super(message);
    this.name = 'RefusedReportError';
  }
}
