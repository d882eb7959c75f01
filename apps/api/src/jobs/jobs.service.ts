import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import {
  estimateMaxCost, MAX_EXPANDED_COMMAND_CHARS, parseGpuModel, poolsForJob, substituteParameters, sumMoney, type CapacityType,
} from '#libs/core';
import { JobAttemptEntity, JobEventEntity, UsageEntity, type JobDefinitionEntity, type JobQueueEntity } from '#libs/db';
import type { Logger } from '#libs/log';
import { policyViolations, type ApiConfig } from '#libs/config';
import { ApiError } from '../common/api-error.js';
import { decodeCursor, encodeCursor } from '../common/cursor.js';
import { IntakeQueues } from '../infra/intake-queues.js';
import { API_CONFIG, LOGGER } from '../infra/tokens.js';
import { poolPolicy } from '../pools/dto/pool.dto.js';
import { JobDefinitionsService, retryRules } from '../job-definitions/job-definitions.service.js';
import { JobQueuesService } from '../job-queues/job-queues.service.js';
import { PoolsService } from '../pools/pools.service.js';
import type { AttemptCostView, CostEstimateView, JobDetailView, JobListView, JobSummaryView, SubmitJobResponse } from './dto/job.view.js';
import type { ListJobsQuery } from './dto/list-jobs.query.js';
import type { SubmitJobDto } from './dto/submit-job.dto.js';
import { insertArrayChildren } from './array-children.js';
import { insertNodeJobs, multiNodeSpec } from './multi-node.js';

const SUMMARY_COLUMNS = `id, name, queue, status, status_reason, priority, created_at, started_at, stopped_at,
  created_at::text AS created_at_exact`;

interface JobRow {
  id: string; name: string; queue: string; status: string; status_reason: string | null; priority: number;
  created_at: Date; started_at: Date | null; stopped_at: Date | null; created_at_exact: string;
}

@Injectable()
export class JobsService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(JobQueuesService) private readonly queues: JobQueuesService,
    @Inject(JobDefinitionsService) private readonly definitions: JobDefinitionsService,
    @Inject(IntakeQueues) private readonly intake: IntakeQueues,
    @Inject(PoolsService) private readonly pools: PoolsService,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  /**
   * Commits the job and its first events, then tells the scheduler through
   * the queue's intake. The reply comes only after the commit; if Redis is
   * down the scheduler still finds the job in Postgres. A job with
   * dependencies starts PENDING (or FAILED, if one already failed).
   */
  async submit(dto: SubmitJobDto): Promise<SubmitJobResponse> {
    const nodes = multiNodeSpec(dto);
    const { queue, definition, job } = await this.resolve(dto, { enabledQueue: true });
    if (nodes) {
      // Per-node resources override the definition's and the submit's: each node asks for them.
      const r = nodes.resources;
      job.resources = {
        vcpus: r.vcpus ?? job.resources.vcpus, memoryMiB: r.memoryMiB ?? job.resources.memoryMiB, gpus: r.gpus ?? job.resources.gpus,
        gpuModel: r.gpuModel ?? job.resources.gpuModel,
      };
    }
    await this.checkContainerPolicy(queue, definition, job);
    const size = dto.array?.size;
    const secrets = this.sealedSecrets(dto, definition);
    this.checkSubmitBytes(dto, job, secrets, size ?? nodes?.count ?? 1);
    const id = randomUUID();
    const deps = dependencyKinds(dto);

    // A plain job is one INSERT statement (atomic on its own); dependencies and arrays need a transaction.
    const inTransaction = deps.plain.length > 0 || deps.nToN !== undefined || size !== undefined || nodes !== undefined;
    const run = <T>(work: (tx: EntityManager) => Promise<T>) => (inTransaction ? this.db.transaction(work) : work(this.db.manager));
    const created = await run(async (tx) => {
      const depsState = await this.startingState(tx, deps.plain);
      if (deps.nToN) await this.checkNToN(tx, deps.nToN, size!);
      // An array parent never runs: it waits PENDING while its children run, and finishes with them.
      const start = size && depsState.status !== 'FAILED' ? { status: 'PENDING' as const, reason: `ARRAY: ${size} children` } : depsState;
      const inserted: { id: string }[] = await tx.query(
        `WITH job AS (
           INSERT INTO jobs (id, name, queue, definition_id, status, status_reason, priority, image, command, environment,
                             vcpus, memory_mib, gpus, gpu_model, label_selector, timeout_seconds, max_attempts, project, tags, client_token,
                             retry_rules, array_size, interruptible, stopped_at, container, secret_environment, node_count, node_index, topology_key,
                             preemptible, preemption_grace_seconds)
           VALUES ($1, $2, $3, $4, $20::varchar, $21::text, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
                   $22, $23, CASE WHEN $20::varchar = 'FAILED' THEN clock_timestamp() END, $24, $25, $26::int, CASE WHEN $26::int IS NOT NULL THEN 0 END, $27,
                   $28, $29)
           ON CONFLICT (client_token) DO NOTHING
           RETURNING id, created_at),
         events AS (
           INSERT INTO job_events (job_id, at, from_status, to_status, reason)
           SELECT id, created_at, NULL, 'SUBMITTED', 'Job submitted' FROM job
           UNION ALL
           SELECT id, created_at, 'SUBMITTED', $20::varchar, $21::text FROM job)
         SELECT id FROM job`,
        [
          id, dto.name, queue.name, definition.id, job.priority, definition.image, JSON.stringify(job.command),
          JSON.stringify(job.environment), job.resources.vcpus, job.resources.memoryMiB, job.resources.gpus,
          job.resources.gpus > 0 ? job.resources.gpuModel : null, job.labelSelector, job.timeoutSeconds, job.maxAttempts,
          dto.project ?? 'default', JSON.stringify(dto.tags ?? {}), dto.clientToken ?? null, JSON.stringify(job.retryRules),
          start.status, start.reason, size ?? null, dto.interruptible ?? false,
          JSON.stringify(definition.container ?? {}), JSON.stringify(secrets), nodes?.count ?? null, nodes?.topologyKey ?? null,
          // A multi-node job is never preempted: its nodes are stopped and retried together, not one by one.
          job.preemptible && !nodes, job.preemptionGraceSeconds,
        ],
      );
      if (inserted.length === 0) return undefined;
      if (nodes) await insertNodeJobs(tx, id, nodes.count, deps.plain);
      if (deps.plain.length > 0) {
        await tx.query(`INSERT INTO job_dependencies (job_id, depends_on) SELECT $1, unnest($2::varchar[])`, [id, deps.plain]);
      }
      if (size && start.status === 'PENDING') {
        const anyRunnable = await insertArrayChildren(tx, id, size, {
          plain: deps.plain, plainState: depsState.status === 'RUNNABLE' ? 'RUNNABLE' : 'PENDING', plainReason: depsState.reason,
          nToN: deps.nToN, sequential: deps.sequential,
        });
        return anyRunnable ? 'RUNNABLE' : 'PENDING';
      }
      return start.status;
    });
    if (!created) {
      // The client token was used before: answer with the job it created, as AWS Batch does.
      const [existing] = await this.db.query(`SELECT id, name FROM jobs WHERE client_token = $1`, [dto.clientToken]);
      return { jobId: existing.id, name: existing.name };
    }
    if (created === 'RUNNABLE') {
      await this.intake.add(queue.name, id, job.priority).catch((err: Error) =>
        this.logger.warn({ err, jobId: id }, 'intake add failed; the scheduler will find the job in Postgres'),
      );
    }
    const estimatedMaxCost = await this.estimate(queue, job, dto.interruptible ?? false, size ?? nodes?.count ?? 1);
    return { jobId: id, name: dto.name, ...(estimatedMaxCost && { estimatedMaxCost }) };
  }

  /**
   * The most the job (every child of an array) can cost, in the cheapest
   * priced pool its queue lets it use. Pools priced in another currency than
   * the most preferred one are left out: their prices do not compare.
   */
  /**
   * What a submit body names: its queue (ENABLED, when asked), its ACTIVE
   * definition revision, and the job they make with the overrides and
   * `Ref::` parameters applied. 4xx otherwise; `path` prefixes the field
   * names in messages (a schedule's body sits under `submit.`).
   */
  async resolve(dto: SubmitJobDto, options: { enabledQueue: boolean; path?: string }) {
    const queue = await this.queues.get(dto.queue);
    if (options.enabledQueue && queue.state !== 'ENABLED') throw new ApiError('JOB_QUEUE_DISABLED', `job queue ${queue.name} is DISABLED`);
    const definition = await this.definitions.resolveRef(dto.definition);
    if (definition.status !== 'ACTIVE') {
      throw new ApiError('DEFINITION_INACTIVE', `job definition ${definition.name}:${definition.revision} is INACTIVE`);
    }
    return { queue, definition, job: this.mergeJob(dto, definition, options.path ?? '') };
  }

  private async estimate(queue: JobQueueEntity, job: ReturnType<JobsService['mergeJob']>, interruptible: boolean, copies: number): Promise<CostEstimateView | undefined> {
    if (job.timeoutSeconds === null) return undefined;
    const priced = await this.pools.priceCards(queue.pools);
    const types = new Map(priced.map((p) => [p.name, p.capacityType as CapacityType]));
    const allowed = poolsForJob(queue, interruptible, types, priced.map((p) => p.name));
    const candidates = allowed.length ? allowed.flatMap((name) => priced.filter((p) => p.name === name)) : priced;
    const currency = candidates[0]?.card.currency;
    const r = job.resources;
    const estimate = estimateMaxCost(
      { vcpus: r.vcpus, memoryMiB: r.memoryMiB, gpus: r.gpus, gpuModel: r.gpuModel ? parseGpuModel(r.gpuModel) : undefined,
        timeoutSeconds: job.timeoutSeconds, maxAttempts: job.maxAttempts * copies },
      candidates.filter((p) => p.card.currency === currency),
    );
    return estimate && { amount: estimate.total, currency: estimate.currency, perAttempt: estimate.perAttempt, pool: estimate.pool };
  }

  /**
   * Job input never loosens a pool's container policy: a job whose
   * definition asks for more than every pool its queue may place it in
   * allows is refused, naming the field. In a pool whose policy is stricter
   * than the request (a queue over several pools, or a policy tightened after
   * the submit), placement clamps the request to that pool's policy.
   */
  private async checkContainerPolicy(queue: JobQueueEntity, definition: JobDefinitionEntity, job: ReturnType<JobsService['mergeJob']>): Promise<void> {
    const pools = await this.pools.forQueue(queue.pools);
    const problems = pools.map((pool) => policyViolations(
      { name: pool.name, policy: poolPolicy(pool) },
      { image: definition.image, memoryMiB: job.resources.memoryMiB, container: definition.container ?? {} },
      `definition ${definition.name}:${definition.revision} `,
    ));
    if (problems.length > 0 && problems.every((p) => p.length > 0)) {
      throw new ApiError('VALIDATION_FAILED', problems.length === 1 ? problems[0][0].message : `${problems[0][0].message}; no pool of queue ${queue.name} allows it`);
    }
  }

  /** The definition's sealed secrets with the submit's own (sealed now) over them. */
  private sealedSecrets(dto: SubmitJobDto, definition: JobDefinitionEntity): Record<string, string> {
    const overrides = dto.overrides?.secretEnvironment ?? {};
    const plainToo = Object.keys(overrides).filter((k) => k in (dto.overrides?.environment ?? {}));
    if (plainToo.length) throw new ApiError('VALIDATION_FAILED', `overrides.secretEnvironment names ${plainToo.join(', ')}, also in overrides.environment`);
    return { ...definition.secretEnvironment, ...this.definitions.sealSecrets(overrides, 'overrides.secretEnvironment') };
  }

  /** A submit may create at most SUBMIT_MAX_BYTES of job rows, every array child counted. */
  private checkSubmitBytes(dto: SubmitJobDto, job: ReturnType<JobsService['mergeJob']>, secrets: Record<string, string>, copies: number): void {
    const perJob = Buffer.byteLength(JSON.stringify({
      name: dto.name, command: job.command, environment: job.environment, secrets, tags: dto.tags ?? {}, retryRules: job.retryRules,
      labelSelector: job.labelSelector, dependsOn: dto.dependsOn ?? [],
    }), 'utf8') + 512; // + the fixed columns, events and index entries of a row
    const total = perJob * (copies > 1 ? copies + 1 : 1);
    if (total > this.config.submitMaxBytes) {
      throw new ApiError('VALIDATION_FAILED', `the submit would create about ${total} bytes of jobs (${copies > 1 ? `${copies} array children of ` : ''}${perJob} bytes each); the limit is ${this.config.submitMaxBytes} (SUBMIT_MAX_BYTES): shrink command, environment, tags or array.size`);
    }
  }

  /** N_TO_N: the partner must be an array of the same size. */
  private async checkNToN(tx: EntityManager, partner: string, size: number): Promise<void> {
    const [row] = await tx.query(`SELECT array_size FROM jobs WHERE id = $1`, [partner]);
    if (!row) throw new ApiError('VALIDATION_FAILED', `dependsOn names jobs that do not exist: ${partner}`);
    if (row.array_size !== size) {
      throw new ApiError('VALIDATION_FAILED', `dependsOn N_TO_N needs an array job of size ${size}; ${partner} ${row.array_size ? `has size ${row.array_size}` : 'is not an array job'}`);
    }
  }

  /**
   * RUNNABLE, PENDING on unfinished dependencies, or FAILED behind a failed
   * one. The dependencies are read FOR SHARE: a dependency that finishes
   * concurrently either is seen finished here or, committing after us, finds
   * this job among its dependants.
   */
  private async startingState(tx: EntityManager, dependsOn: string[]): Promise<{ status: 'RUNNABLE' | 'PENDING' | 'FAILED'; reason: string }> {
    if (dependsOn.length === 0) return { status: 'RUNNABLE', reason: 'Waiting for the scheduler' };
    const rows: { id: string; status: string }[] = await tx.query(
      `SELECT id, status FROM jobs WHERE id = ANY($1) ORDER BY id FOR SHARE`, [dependsOn],
    );
    const unknown = dependsOn.filter((d) => !rows.some((r) => r.id === d));
    if (unknown.length) throw new ApiError('VALIDATION_FAILED', `dependsOn names jobs that do not exist: ${unknown.join(', ')}`);
    const failed = rows.find((r) => r.status === 'FAILED');
    if (failed) return { status: 'FAILED', reason: `Dependent job ${failed.id} failed` };
    const waiting = rows.filter((r) => r.status !== 'SUCCEEDED').map((r) => r.id);
    if (waiting.length === 0) return { status: 'RUNNABLE', reason: 'Waiting for the scheduler' };
    const listed = waiting.slice(0, 10).join(', ') + (waiting.length > 10 ? ` and ${waiting.length - 10} more` : '');
    return { status: 'PENDING', reason: `DEPENDENCY: waiting for ${listed}` };
  }

  private mergeJob(dto: SubmitJobDto, d: JobDefinitionEntity, path: string) {
    const { command, missing, tooLong } = substituteParameters(dto.overrides?.command ?? d.command, dto.parameters ?? {}, d.parameters);
    if (missing.length > 0) {
      throw new ApiError('VALIDATION_FAILED', `${path}parameters has no value for ${missing.map((m) => `Ref::${m}`).join(', ')} used in command`);
    }
    if (tooLong) {
      throw new ApiError('VALIDATION_FAILED', `${path}parameters expand command to more than ${MAX_EXPANDED_COMMAND_CHARS} characters`);
    }
    const r = dto.overrides?.resources;
    return {
      command,
      environment: { ...d.environment, ...dto.overrides?.environment },
      resources: {
        vcpus: r?.vcpus ?? d.vcpus, memoryMiB: r?.memoryMiB ?? d.memoryMiB, gpus: r?.gpus ?? d.gpus, gpuModel: r?.gpuModel ?? d.gpuModel,
      },
      labelSelector: dto.labelSelector ?? d.labelSelector,
      timeoutSeconds: dto.timeoutSeconds ?? d.timeoutSeconds,
      maxAttempts: dto.retryStrategy?.attempts ?? d.retryAttempts,
      // A submit's retryStrategy replaces the definition's whole, rules included (as in AWS Batch).
      retryRules: dto.retryStrategy ? retryRules(dto.retryStrategy) : d.retryRules,
      priority: dto.priority ?? 0,
      preemptible: dto.preemptible ?? d.preemptible,
      preemptionGraceSeconds: dto.preemptionGraceSeconds ?? d.preemptionGraceSeconds,
    };
  }

  /** Newest first, keyset-paged on (created_at, id). */
  /** projects: the ones the caller may read (null: every one); the others' jobs do not exist for it. */
  async list(q: ListJobsQuery, projects: string[] | null = null): Promise<JobListView> {
    const limit = q.limit ?? 100;
    const where: string[] = [];
    const params: unknown[] = [];
    if (projects !== null) where.push(`project = ANY($${params.push(projects)})`);
    // Array children are listed through their parent (arrayJobId), as in AWS Batch.
    where.push(q.arrayJobId ? `parent_id = $${params.push(q.arrayJobId)}` : 'parent_id IS NULL');
    if (q.queue) where.push(`queue = $${params.push(q.queue)}`);
    if (q.status) where.push(`status = $${params.push(q.status)}`);
    if (q.cursor) {
      const c = decodeCursor(q.cursor);
      where.push(`(created_at, id) < ($${params.push(c.createdAt)}::timestamptz, $${params.push(c.id)})`);
    }
    const rows: JobRow[] = await this.db.query(
      `SELECT ${SUMMARY_COLUMNS} FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_at DESC, id DESC LIMIT ${limit + 1}`,
      params,
    );
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      jobs: page.map(toSummary),
      nextCursor: rows.length > limit && last ? encodeCursor({ createdAt: last.created_at_exact, id: last.id }) : null,
    };
  }

  async describe(id: string): Promise<JobDetailView> {
    const [row] = await this.db.query(
      `SELECT j.*, j.created_at::text AS created_at_exact, d.name AS definition_name, d.revision AS definition_revision
       FROM jobs j JOIN job_definitions d ON d.id = j.definition_id WHERE j.id = $1`,
      [id],
    );
    if (!row) throw new ApiError('JOB_NOT_FOUND', `job ${id} does not exist`);
    const [attempts, usage, childCosts, events, dependsOn, summary] = await Promise.all([
      this.db.getRepository(JobAttemptEntity).find({ where: { jobId: id }, order: { attempt: 'ASC' } }),
      this.db.getRepository(UsageEntity).find({ where: { jobId: id } }),
      // An array job's cost is its children's; a multi-node job's adds its other nodes' to the main node's.
      row.array_size === null && row.node_index !== 0 ? Promise.resolve([])
        : this.db.query(`SELECT currency, sum(cost)::text AS cost, bool_or(running) AS running FROM usage WHERE array_job_id = $1 GROUP BY currency`, [id]) as
          Promise<{ currency: string; cost: string; running: boolean }[]>,
      this.db.getRepository(JobEventEntity).find({ where: { jobId: id }, order: { id: 'ASC' } }),
      this.db.query(`SELECT depends_on FROM job_dependencies WHERE job_id = $1 ORDER BY depends_on`, [id]) as Promise<{ depends_on: string }[]>,
      row.array_size === null ? Promise.resolve([])
        : this.db.query(`SELECT status, count(*)::int AS n FROM jobs WHERE parent_id = $1 GROUP BY status`, [id]) as Promise<{ status: string; n: number }[]>,
    ]);
    const nodes: { id: string; node_index: number; status: string; status_reason: string | null }[] = row.node_index !== 0 ? []
      : await this.db.query(`SELECT id, node_index, status, status_reason FROM jobs WHERE id = $1 OR parent_id = $1 ORDER BY node_index`, [id]);
    return {
      ...toSummary(row),
      definition: `${row.definition_name}:${row.definition_revision}`,
      image: row.image,
      command: row.command,
      environment: row.environment,
      secrets: Object.keys(row.secret_environment ?? {}).sort().map((name) => ({ name, secret: true as const })),
      containerProperties: row.container ?? {},
      resources: { vcpus: Number(row.vcpus), memoryMiB: row.memory_mib, gpus: row.gpus, gpuModel: row.gpu_model },
      labelSelector: row.label_selector,
      timeoutSeconds: row.timeout_seconds,
      retryStrategy: { attempts: row.max_attempts, evaluateOnExit: row.retry_rules },
      dependsOn: dependsOn.map((d) => ({ jobId: d.depends_on })),
      arrayProperties: row.array_size !== null
        ? { size: row.array_size, statusSummary: Object.fromEntries(summary.map((r) => [r.status, r.n])) }
        : row.parent_id !== null && row.node_index === null ? { parentId: row.parent_id, index: row.array_index } : null,
      nodeProperties: row.node_index === 0
        ? {
          numNodes: row.node_count, mainNode: 0, topologyKey: row.topology_key,
          nodes: nodes.map((n) => ({ nodeIndex: n.node_index, jobId: n.id, status: n.status, statusReason: n.status_reason })),
        }
        : row.node_index !== null ? { nodeIndex: row.node_index, mainJobId: row.parent_id } : null,
      project: row.project,
      tags: row.tags,
      interruptible: row.interruptible,
      preemptible: row.preemptible,
      preemptionGraceSeconds: row.preemption_grace_seconds,
      preemptionCount: row.preemption_count,
      ...jobCost(row.status, [...usage, ...childCosts]),
      attempts: attempts.map((a) => ({
        attempt: a.attempt, status: a.status, workerId: a.workerId, pool: a.pool, gpuDevices: a.gpuDevices,
        containerId: a.containerId, startedAt: iso(a.startedAt), stoppedAt: iso(a.stoppedAt), exitCode: a.exitCode, reason: a.reason,
        cost: attemptCost(usage.find((u) => u.attempt === a.attempt)),
      })),
      events: events.map((e) => ({ at: e.at.toISOString(), from: e.fromStatus, to: e.toStatus, reason: e.reason })),
    };
  }


}

/** Cost so far by currency, final once the job is finished and nothing accrues any more. */
function jobCost(status: string, usage: { currency: string; cost: string; running: boolean }[]): { cost: Record<string, string>; costFinal: boolean } {
  const currencies = [...new Set(usage.map((u) => u.currency))].sort();
  return {
    cost: Object.fromEntries(currencies.map((c) => [c, sumMoney(usage.filter((u) => u.currency === c).map((u) => u.cost))])),
    costFinal: ['SUCCEEDED', 'FAILED'].includes(status) && !usage.some((u) => u.running),
  };
}

function attemptCost(u: UsageEntity | undefined): AttemptCostView | null {
  return u ? {
    amount: u.cost, currency: u.currency, billedSeconds: u.billedSeconds, running: u.running, capacityType: u.capacityType,
    gpuModel: u.gpuModel, rates: { vcpuHour: u.vcpuHour, memoryGiBHour: u.memoryGiBHour, gpuHour: u.gpuHour, minimumBilledSeconds: u.minimumBilledSeconds },
  } : null;
}

function iso(d: Date | null): string | null {
  return d ? d.toISOString() : null;
}

function toSummary(r: JobRow): JobSummaryView {
  return {
    jobId: r.id, name: r.name, queue: r.queue, status: r.status, statusReason: r.status_reason, priority: r.priority,
    createdAt: r.created_at.toISOString(), startedAt: iso(r.started_at), stoppedAt: iso(r.stopped_at),
  };
}

/** Splits dependsOn into plain dependencies, N_TO_N and SEQUENTIAL, checking the rules that need no database. */
function dependencyKinds(dto: SubmitJobDto): { plain: string[]; nToN?: string; sequential: boolean } {
  const list = dto.dependsOn ?? [];
  const typed = list.filter((d) => d.type);
  if (typed.length && !dto.array) throw new ApiError('VALIDATION_FAILED', 'dependsOn type N_TO_N or SEQUENTIAL needs an array job (array.size)');
  if (list.some((d) => d.type === 'SEQUENTIAL' && d.jobId)) throw new ApiError('VALIDATION_FAILED', 'dependsOn type SEQUENTIAL takes no jobId: each child waits for the one before it');
  if (list.some((d) => d.type !== 'SEQUENTIAL' && !d.jobId)) throw new ApiError('VALIDATION_FAILED', 'dependsOn entries need a jobId (except type SEQUENTIAL)');
  const nToN = list.filter((d) => d.type === 'N_TO_N');
  if (nToN.length > 1) throw new ApiError('VALIDATION_FAILED', 'dependsOn may hold at most one N_TO_N dependency');
  if (list.filter((d) => d.type === 'SEQUENTIAL').length > 1) throw new ApiError('VALIDATION_FAILED', 'dependsOn may hold at most one SEQUENTIAL entry');
  const plain = list.filter((d) => !d.type).map((d) => d.jobId!);
  const ids = [...plain, ...nToN.map((d) => d.jobId!)];
  if (new Set(ids).size !== ids.length) throw new ApiError('VALIDATION_FAILED', 'dependsOn must not name a job twice');
  return { plain, nToN: nToN[0]?.jobId, sequential: list.some((d) => d.type === 'SEQUENTIAL') };
}
