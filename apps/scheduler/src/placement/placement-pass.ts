import { appendFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { DataSource } from 'typeorm';
import {
  gangEnvironment, gangPort, orderJobs, planPreemption, poolsForJob, Scheduler,
  type CapacityType, type Placement, type PreemptionPolicy, type ProjectLimits, type RunnableJob, type SchedulingPolicy, type WaitingReasons,
} from '#libs/core';
import { applyCommands, applyInTransaction, type Applied, type Fence, type LifecycleCommand } from '#libs/db';
import type { SecretBox } from '#libs/config';
import type { Logger } from '#libs/log';
import type { DispatchPayload, WorkerQueues } from '#libs/queue';
import { ClusterState, type RunnableEntry } from '../state/cluster-state.js';
import { placementDetails, type DispatchJobColumns } from './dispatch-details.js';
import type { DispatchSender } from './dispatch-sender.js';
import { schedulerMetrics } from '../metrics/scheduler-metrics.js';
import type { WorkerRegistry } from '../workers/worker-registry.js';

export interface QueueRow {
  name: string; priority: number; pools: string[]; scheduling_policy: 'FIFO' | 'FAIR_SHARE'; prefer_spot_for_interruptible: boolean;
  /** Its waiting jobs may preempt lower-priority preemptible jobs. */
  preempt_lower_priority?: boolean;
}

/** Preemption settings of the scheduler (docs/preemption.md). */
export interface PreemptionSettings extends PreemptionPolicy {
  /** Sent to the victim's container with the notice. */
  signal: string;
}

const DEFAULT_PREEMPTION: PreemptionSettings = { minRuntimeSeconds: 300, maxPreemptionsPerJob: 3, signal: 'SIGUSR1' };
// A pass starts at most this many preemptions: each frees capacity for one waiting job.
const MAX_PREEMPTIONS_PER_PASS = 4;
// Reasons that changed only in detail (jobs ahead, the largest free block, an estimated start) written per pass at most,
// head of the order first: behind a deep queue most reasons change in detail with every pass that places, and writing
// tens of thousands of rows each time was most of a pass (9.4 s p50 at 92,000 waiting). The rest follow in the next passes.
export const REASON_DETAIL_WRITES_PER_PASS = 5_000;
// And at most once per job in this long: while jobs pour in, every pass that places changes every waiting job's count
// of jobs ahead, and rewriting each row (nine indexes) on every pass cost Postgres more than the jobs themselves did.
// A change of kind is written at once.
export const REASON_DETAIL_REFRESH_MS = 2_000;

/** What a pass needs to know beyond the runnable jobs and the workers. */
export interface PassContext {
  queues: QueueRow[];
  /** Capacity type of every priced pool. */
  capacityTypes: ReadonlyMap<string, CapacityType>;
  /** Budgets and quotas by project, without the GPUs held (the pass counts those). */
  projects: ReadonlyMap<string, Omit<ProjectLimits, 'gpusHeld'>>;
  fairShare: SchedulingPolicy['fairShare'];
  /** Pools that allow multi-node jobs; absent: none does. */
  multiNodePools?: ReadonlySet<string>;
}

/** A gang one of whose nodes could not be placed (it left RUNNABLE meanwhile): none of its nodes is. */
class GangNotPlaced extends Error {}

/**
 * One scheduling pass: the pure core decides, then every placement is
 * committed through the lifecycle writer (job STARTING + attempt row +
 * event) in one transaction before it is dispatched, and every waiting job gets its reason.
 */
export class PlacementPass {
  constructor(
    private readonly db: DataSource,
    private readonly state: ClusterState,
    private readonly registry: WorkerRegistry,
    private readonly dispatcher: WorkerQueues,
    /** Sends the committed placements to the workers behind the pass. */
    private readonly sender: DispatchSender,
    private readonly logger: Logger,
    /** The leader's epoch: placements of a deposed leader are refused. */
    private readonly fence: () => Fence | undefined = () => undefined,
    /** Opens secret environment values for the dispatch entry. */
    private readonly secrets: SecretBox | null = null,
    private readonly preemption: PreemptionSettings = DEFAULT_PREEMPTION,
    /** Benchmarks: each pass's timings as a JSON line in this file (SCHEDULER_PASS_STATS_FILE). */
    private readonly statsFile?: string,
  ) {}

  /** True when the last pass left reasons that changed in detail unwritten: another pass should follow soon. */
  reasonsBehind = false;

  /** True when every reason of the core's last pass is written: a pass whose core decided only some jobs then compares only theirs. */
  private reasonsWritten = false;

  /** Changes in detail held back until their job's REASON_DETAIL_REFRESH_MS is up, with the reason to write: compared again each pass. */
  private heldReasons: ReadonlyMap<string, string> = new Map();

  /** Preemptions under way: each waiting job's victims, until they have given their resources back. */
  private readonly preempting = new Map<string, { workerId: string; victims: { jobId: string; attempt: number }[] }>();

  /** Last pass's pool list per queue and interruptibility. */
  private poolLists = new Map<string, string[]>();

  /** Last pass's jobs for the core (and gangs no pool may run), kept while only new runnable jobs come; and what they were built with. */
  private jobList: { jobs: RunnableJob[]; noGangPool: Map<string, string> } | undefined;
  private jobSettings = '';

  /** The core's view of each runnable entry, kept while its entry, queue priority, policy and pools stay the same. */
  private readonly jobs = new WeakMap<RunnableEntry, RunnableJob>();

  /**
   * The same object as last pass when nothing about the job changed: the
   * core keeps its order and shapes between passes for the jobs it has seen.
   */
  private runnableJob(entry: RunnableEntry, queue: QueueRow | undefined, pools: string[]): RunnableJob {
    const queuePriority = queue?.priority ?? 0;
    const fairShare = queue?.scheduling_policy === 'FAIR_SHARE';
    const known = this.jobs.get(entry);
    if (known && known.queuePriority === queuePriority && known.fairShare === fairShare && known.pools === pools) return known;
    const { interruptible: _, ...j } = entry;
    const job: RunnableJob = { ...j, queuePriority, pools, fairShare };
    this.jobs.set(entry, job);
    return job;
  }

  /** The port each placed gang's main node listens on, by gang id: other gangs' main nodes on that worker avoid it. */
  private readonly gangPorts = new Map<string, { workerId: string; port: number }>();

  async run(context: PassContext, now: number): Promise<number> {
    this.reasonsBehind = false;
    if (this.state.runnable.size === 0) return 0;
    const timer = schedulerMetrics.placementPass.startTimer();
    try {
      return await this.decideAndCommit(context, now);
    } finally {
      timer();
    }
  }

  private async decideAndCommit(context: PassContext, now: number): Promise<number> {
    const t0 = performance.now();
    const byName = new Map(context.queues.map((q) => [q.name, q]));
    const knownPools = [...new Set([...context.capacityTypes.keys(), ...this.registry.pools()])];
    const multiNodePools = context.multiNodePools ?? new Set<string>();
    // What a runnable job's view for the core depends on besides the job: the same as last pass, and only new jobs
    // came, the last pass's list is kept and the new ones added (in the runnable map's order, as a rebuild gives).
    const settings = JSON.stringify([context.queues, knownPools, [...multiNodePools], [...context.capacityTypes]]);
    const added = this.state.runnable.takeChanges();
    const kept = added !== undefined && settings === this.jobSettings ? this.jobList : undefined;
    this.jobList = undefined; // until built: a failure on the way builds it again next pass
    // One pool list per queue and interruptibility, shared by its jobs: a pass may carry 100,000 of them.
    const poolLists = kept ? this.poolLists : new Map<string, string[]>();
    // Looked up by the queue's row, not by a key built per job.
    const byRow = new Map<QueueRow, (string[] | undefined)[]>();
    const poolsOf = (queue: QueueRow, interruptible: boolean) => {
      let lists = byRow.get(queue);
      if (!lists) byRow.set(queue, (lists = []));
      const known = lists[interruptible ? 1 : 0];
      if (known) return known;
      const key = `${queue.name} ${interruptible}`;
      let pools = poolLists.get(key);
      if (!pools) {
        pools = poolsForJob({ pools: queue.pools, preferSpotForInterruptible: queue.prefer_spot_for_interruptible }, interruptible, context.capacityTypes, knownPools);
        // The same list as last pass keeps the jobs' objects, and so the core's kept order, as they were.
        const previous = this.poolLists.get(key);
        if (previous && previous.length === pools.length && previous.every((p, i) => p === pools![i])) pools = previous;
        poolLists.set(key, pools);
      }
      lists[interruptible ? 1 : 0] = pools;
      return pools;
    };
    this.poolLists = poolLists;
    // Gangs run only in pools whose policy allows their host-network containers; elsewhere they can never start.
    const noGangPool = kept ? kept.noGangPool : new Map<string, string>();
    const jobs: RunnableJob[] = kept ? kept.jobs : [];
    for (const entry of kept ? added! : this.state.runnable.values()) {
      const queue = byName.get(entry.queue);
      let pools = queue ? poolsOf(queue, entry.interruptible) : [];
      if (entry.gang) {
        pools = (pools.length ? pools : knownPools).filter((p) => multiNodePools.has(p));
        if (pools.length === 0) {
          noGangPool.set(entry.id, `UNSCHEDULABLE: no pool of queue ${entry.queue} allows multi-node jobs (allowMultiNode in a pool's container policy)`);
          continue;
        }
      }
      jobs.push(this.runnableJob(entry, queue, pools));
    }
    this.jobList = { jobs, noGangPool };
    this.jobSettings = settings;
    const held = this.state.gpusHeldByProject();
    const projects = new Map([...context.projects].map(([name, p]) => [name, { ...p, gpusHeld: held.get(name) ?? 0 }]));
    const allWritten = this.reasonsWritten;
    this.reasonsWritten = false;
    const { placements, waiting } = this.core.schedule({
      now, workers: this.registry.nodes(), jobs, running: this.state.running(), projects,
      policy: { mode: 'backfill', fairShare: context.fairShare },
    });
    const decided = allWritten ? this.core.lastDecided : undefined;
    const t1 = performance.now();
    const placed = await this.commit(placements, now);
    const t2 = performance.now();
    for (const [id, reason] of noGangPool) waiting.set(id, reason);
    await this.preempt(jobs, waiting, byName, now);
    await this.writeReasons(waiting, decided, now);
    if (this.statsFile) {
      const ms = (x: number) => Math.round(x * 10) / 10;
      appendFileSync(this.statsFile, JSON.stringify({
        at: Date.now(), runnable: jobs.length, workers: this.registry.nodes().length, placed, waiting: waiting.size,
        coreMs: ms(t1 - t0), commitMs: ms(t2 - t1),
        commitStagesMs: Object.fromEntries(Object.entries(this.commitStages).map(([k, v]) => [k, ms(v)])), reasonsMs: ms(performance.now() - t2), totalMs: ms(performance.now() - t0),
        // Dispatch sends that ended since the last pass line (they run behind the passes).
        sends: this.sender.takeSends(),
      }) + '\n');
    }
    return placed;
  }

  /**
   * The node environment of every gang placed in this pass, by job id: the
   * main node's worker address and a port of the gang range on it.
   */
  private gangEnvironments(placements: Placement[]): Map<string, Record<string, string>> {
    const out = new Map<string, Record<string, string>>();
    for (const [gangId, held] of this.gangPorts) {
      // Forget ports of gangs whose main node no longer holds anything.
      if (!this.state.heldOn(held.workerId).some((h) => h.jobId === gangId)) this.gangPorts.delete(gangId);
    }
    const gangs = new Map<string, { index: number; size: number; placement: Placement }[]>();
    for (const p of placements) {
      const gang = this.state.runnable.get(p.jobId)?.gang;
      if (!gang) continue;
      gangs.set(gang.id, [...(gangs.get(gang.id) ?? []), { index: gang.index, size: gang.size, placement: p }]);
    }
    for (const [gangId, nodes] of gangs) {
      const main = nodes.find((n) => n.index === 0)!;
      const mainWorker = main.placement.workerId;
      const inUse = new Set([...this.gangPorts.values()].filter((g) => g.workerId === mainWorker).map((g) => g.port));
      const port = gangPort(gangId, inUse);
      if (port === undefined) continue; // every port of the range is taken on that worker: the gang is not placed this pass
      this.gangPorts.set(gangId, { workerId: mainWorker, port });
      const address = this.registry.address(mainWorker) ?? '127.0.0.1';
      for (const n of nodes) out.set(n.placement.jobId, gangEnvironment(n.index, n.size, address, port));
    }
    return out;
  }

  /**
   * For waiting jobs of queues that may preempt, in queue order: the
   * preemptible lower-priority attempts to stop so that the job fits (the
   * core's planPreemption), each told through the lifecycle (an event on the
   * victim's timeline says by whom) and its worker (the checkpoint
   * handshake). The waiting job says which jobs it is preempting until they
   * have ended; it then starts in the next pass, ahead of them by priority.
   */
  private async preempt(jobs: RunnableJob[], waiting: WaitingReasons, queues: Map<string, QueueRow>, now: number): Promise<void> {
    for (const [jobId, p] of this.preempting) {
      const left = p.victims.filter((v) => this.state.holds(p.workerId, ClusterState.attemptKey(v.jobId, v.attempt)));
      if (left.length === 0 || !waiting.has(jobId)) this.preempting.delete(jobId);
      else waiting.set(jobId, preemptingReason(left.map((v) => v.jobId), p.workerId));
    }
    const allowed = [...queues.values()].filter((q) => q.preempt_lower_priority).map((q) => q.name);
    if (allowed.length === 0) return;
    const underWay = new Set([...this.preempting.values()].flatMap((p) => p.victims.map((v) => v.jobId)));
    let candidates = this.state.preemptionCandidates((queue) => queues.get(queue)?.priority ?? 0).filter((c) => !underWay.has(c.jobId));
    if (candidates.length === 0) return;
    const waitingJobs = orderJobs(jobs.filter((j) => allowed.includes(j.queue) && !j.gang && waiting.has(j.id) && !this.preempting.has(j.id)
      && !/^(UNSCHEDULABLE|QUOTA|BUDGET)/.test(waiting.get(j.id)!)));
    let started = 0;
    for (const job of waitingJobs) {
      if (started >= MAX_PREEMPTIONS_PER_PASS || candidates.length === 0) break;
      const plan = planPreemption(job, this.registry.nodes(), candidates, now, this.preemption);
      if (!plan) continue;
      const victims = plan.victims.map((id) => candidates.find((c) => c.jobId === id)!);
      const applied = await applyCommands(this.db, victims.map((v): LifecycleCommand => ({
        jobId: v.jobId, command: { type: 'preempt', by: job.id, graceSeconds: v.graceSeconds },
      })), this.fence());
      const told = victims.filter((v) => applied.some((a) => a.jobId === v.jobId && a.transition.outcome === 'applied'));
      if (told.length !== victims.length) continue; // one ended or is being terminated meanwhile: plan again next pass
      for (const v of told) {
        await this.dispatcher.command(v.workerId, { type: 'preempt', jobId: v.jobId, attempt: v.attempt, by: job.id, graceSeconds: v.graceSeconds, signal: this.preemption.signal })
          .catch((err: Error) => this.logger.error({ err, jobId: v.jobId }, 'could not send the preemption notice'));
      }
      this.logger.info({ jobId: job.id, workerId: plan.workerId, victims: plan.victims }, 'preempting');
      this.preempting.set(job.id, { workerId: plan.workerId, victims: told.map((v) => ({ jobId: v.jobId, attempt: v.attempt })) });
      waiting.set(job.id, preemptingReason(plan.victims, plan.workerId));
      candidates = candidates.filter((c) => !plan.victims.includes(c.jobId));
      started++;
    }
  }

  /** One gang's placements in a transaction of their own: all nodes become STARTING, or none. */
  private async placeGang(commands: LifecycleCommand[]): Promise<Applied[]> {
    try {
      return await this.db.transaction(async (tx) => {
        const applied = await applyInTransaction(tx, commands, this.fence());
        if (applied.some((a) => a.transition.outcome !== 'applied')) throw new GangNotPlaced();
        return applied;
      });
    } catch (err) {
      if (!(err instanceof GangNotPlaced)) throw err;
      this.logger.info({ jobId: commands[0].jobId }, 'a node of a multi-node job left RUNNABLE: none of its nodes is placed');
      return [];
    }
  }

  /** This leader's core: it keeps the jobs' order and the last outcome between passes, so a pass costs what changed. */
  private readonly core = new Scheduler();

  /** The last commit's stages, for the pass stats file. */
  private commitStages: Record<string, number> = {};

  private async commit(placements: Placement[], now: number): Promise<number> {
    this.commitStages = {};
    if (placements.length === 0) return 0;
    const started = performance.now();
    let t = started;
    const stage = (name: string) => {
      const at = performance.now();
      this.commitStages[name] = at - t;
      t = at;
    };
    const nodeEnvironments = this.gangEnvironments(placements);
    const singles: LifecycleCommand[] = [];
    const gangs = new Map<string, LifecycleCommand[]>();
    for (const p of placements) {
      const gang = this.state.runnable.get(p.jobId)?.gang;
      const nodeEnvironment = nodeEnvironments.get(p.jobId);
      if (gang && !nodeEnvironment) continue;
      const command: LifecycleCommand = {
        jobId: p.jobId,
        command: { type: 'place', workerId: p.workerId, gpuDevices: p.gpuDevices, ...(nodeEnvironment ? { nodeEnvironment } : {}) },
        // Priced by its first GPU's model: the core keeps a job's GPUs on one model when it asks for one.
        placement: { pool: this.registry.pool(p.workerId) ?? 'default', gpuModel: p.gpuDevices.length ? this.registry.gpuModel(p.workerId, p.gpuDevices[0]) ?? null : null },
      };
      if (gang) gangs.set(gang.id, [...(gangs.get(gang.id) ?? []), command]);
      else singles.push(command);
    }
    // Read beside the lifecycle writer's transaction (placing a job changes none of it): the jobs' columns, the container
    // policy of each worker's pool and the secrets. A failure here must not stop placement: the rows are read after the commit.
    const reading = placementDetails(
      this.db, this.secrets, placements.map((p) => ({ jobId: p.jobId, pool: this.registry.pool(p.workerId) ?? 'default' })), this.logger,
    ).then((details) => {
      this.commitStages.details = performance.now() - started;
      return details;
    }, (err: Error) => {
      this.logger.error({ err }, 'reading container policies failed; dispatching with the default container policy');
      return undefined;
    });
    const [appliedSingles, appliedGangs, details] = await Promise.all([
      applyCommands(this.db, singles, this.fence()).then((applied) => {
        this.commitStages.writer = performance.now() - started;
        return applied;
      }),
      Promise.all([...gangs.values()].map((commands) => this.placeGang(commands))),
      reading,
    ]);
    // The writer's transaction and the details read side by side: `writer` and `details` are each one's own time.
    stage('lifecycle');
    const applied = [...appliedSingles, ...appliedGangs.flat()];
    const placedIds = applied.filter((a) => a.transition.outcome === 'applied').map((a) => a.jobId);
    const jobs = details ? placedIds.map((id) => details.get(id)?.job).filter((j) => j !== undefined) : await this.readPlaced(placedIds);
    if (!details) stage('read');
    const byJob = new Map(placements.map((p) => [p.jobId, p]));
    for (const p of placements) {
      // Placed, or no longer RUNNABLE (cancelled meanwhile): either way it leaves the runnable set.
      this.state.runnable.delete(p.jobId);
      this.state.reasons.delete(p.jobId);
    }
    const attemptOf = new Map(applied.flatMap((a) => a.transition.outcome === 'applied'
      ? a.transition.effects.flatMap((e) => (e.type === 'open-attempt' ? [[a.jobId, e.attempt] as const] : [])) : []));
    const byWorker = new Map<string, DispatchPayload[]>();
    for (const r of jobs) {
      const { workerId, gpuDevices } = byJob.get(r.id)!;
      const attempt = attemptOf.get(r.id)!;
      const nodeEnvironment = nodeEnvironments.get(r.id);
      const vcpus = Number(r.vcpus);
      this.state.hold(workerId, ClusterState.attemptKey(r.id, attempt), {
        jobId: r.id, project: r.project, vcpus, memoryMiB: r.memory_mib, gpuDevices, startedAt: now, timeoutSeconds: r.timeout_seconds,
        job: { queue: r.queue, priority: r.priority, preemptible: r.preemptible, preemptions: r.preemption_count, graceSeconds: r.preemption_grace_seconds },
      });
      const payload: DispatchPayload = {
        jobId: r.id, jobName: r.name, queue: r.queue, attempt, image: r.image, command: r.command,
        environment: nodeEnvironment ? { ...r.environment, ...nodeEnvironment } : r.environment, resources: { vcpus, memoryMiB: r.memory_mib, gpus: gpuDevices.length },
        gpuDevices, timeoutSeconds: r.timeout_seconds, restartCount: r.preemption_count, ...details?.get(r.id)?.details,
        ...(nodeEnvironment ? { networkMode: 'host' as const } : {}),
      };
      byWorker.set(workerId, [...(byWorker.get(workerId) ?? []), payload]);
    }
    // Committed: sent behind this pass, in pass order, while the next pass decides.
    this.sender.send(byWorker);
    stage('dispatch');
    return jobs.length;
  }

  /** The placed jobs' columns, read after the commit when reading them beside it failed. */
  private async readPlaced(ids: string[]): Promise<DispatchJobColumns[]> {
    if (ids.length === 0) return [];
    return this.db.query(
      `SELECT id, name, queue, image, command, environment, vcpus, memory_mib, timeout_seconds, project, priority, preemptible,
              preemption_count, preemption_grace_seconds
       FROM jobs WHERE id = ANY($1)`,
      [ids],
    );
  }

  /**
   * Writes only the reasons that changed since the last pass, in one
   * statement: every new reason and every change of kind (RESOURCE to
   * PRIORITY, UNSCHEDULABLE to RESOURCE), and changes in detail only up to
   * REASON_DETAIL_WRITES_PER_PASS, nearest the head of the order first,
   * and for each job once per REASON_DETAIL_REFRESH_MS.
   * After a pass whose core decided only some jobs (`decided`), when the
   * last pass's reasons are all written, only theirs and those this pass
   * set are compared: at 100,000 waiting, comparing every one was most of
   * such a pass.
   */
  private async writeReasons(waiting: WaitingReasons, decided: readonly (readonly [string, string])[] | undefined, now: number): Promise<void> {
    const visit: VisitReasons = decided
      ? (compare) => {
        // Each id once, with its reason as the pass leaves it (a reason set after the core's wins, then one held back:
        // a held job the core did not decide again still has the reason it was held with).
        const changed = new Map(decided);
        for (const id of waiting.changedBySet) changed.set(id, waiting.get(id)!);
        for (const [id, reason] of this.heldReasons) if (!changed.has(id) && this.state.runnable.has(id)) changed.set(id, reason);
        changed.forEach(compare);
      }
      : (compare) => waiting.forEach(compare);
    const { ids, reasons, capped, held } = reasonsToWrite(visit, this.state.reasons, now);
    this.heldReasons = held;
    // Either way a later pass writes what is left; only the cap leaves this pass's reasons to be compared all again.
    this.reasonsBehind = capped || held.size > 0;
    if (ids.length > 0) {
      await this.db.query(
        `UPDATE jobs j SET status_reason = r.reason FROM unnest($1::text[], $2::text[]) AS r(id, reason)
         WHERE j.id = r.id AND j.status = 'RUNNABLE'`,
        [ids, reasons],
      );
      ids.forEach((id, i) => this.state.reasons.set(id, { reason: reasons[i], at: now }));
    }
    this.reasonsWritten = !capped;
  }
}

/** Visits a pass's reasons (reason, job id), nearest the head of the order first. */
type VisitReasons = (compare: (reason: string, id: string) => void) => void;

/**
 * The reasons a pass writes, of those it visits: every new reason and every
 * change of kind; a change in detail only if that job's reason was written
 * REASON_DETAIL_REFRESH_MS ago or more (else it is `held`, with its
 * reason), and at most REASON_DETAIL_WRITES_PER_PASS of them (`capped` when
 * more were due).
 */
export function reasonsToWrite(
  visit: VisitReasons, written: ReadonlyMap<string, { reason: string; at: number }>, now: number,
): { ids: string[]; reasons: string[]; capped: boolean; held: Map<string, string> } {
  const ids: string[] = [];
  const reasons: string[] = [];
  const held = new Map<string, string>();
  let details = 0;
  let capped = false;
  visit((reason, id) => {
    const last = written.get(id);
    if (last?.reason === reason) return;
    if (last !== undefined && sameKind(last.reason, reason)) {
      if (now - last.at < REASON_DETAIL_REFRESH_MS) {
        held.set(id, reason);
        return;
      }
      if (details >= REASON_DETAIL_WRITES_PER_PASS) {
        capped = true;
        return;
      }
      details++;
    }
    ids.push(id);
    reasons.push(reason);
  });
  return { ids, reasons, capped, held };
}

/** Whether two reasons are of one kind (the word before the colon): a change between them is a change in detail. */
function sameKind(a: string, b: string): boolean {
  const colon = a.indexOf(':');
  return colon > 0 && b.length > colon && b.charCodeAt(colon) === 58 && a.startsWith(b.slice(0, colon));
}

/** `PREEMPTING: jobs a, b on worker w (waiting for their checkpoints)` */
function preemptingReason(victims: string[], workerId: string): string {
  return `PREEMPTING: job${victims.length > 1 ? 's' : ''} ${victims.join(', ')} on worker ${workerId} (waiting for ${victims.length > 1 ? 'their checkpoints' : 'its checkpoint'})`;
}
