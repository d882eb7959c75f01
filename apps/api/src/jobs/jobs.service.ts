import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import {
  estimateMaxCost, IDLE_GPU_PERCENT, isIdle, MAX_EXPANDED_COMMAND_CHARS, parseGpuModel, poolsForJob, substituteParameters, sumMoney, type CapacityType,
} from '#libs/core';
import { JobAttemptEntity, JobEventEntity, UsageEntity, type JobDefinitionEntity, type JobQueueEntity } from '#libs/db';
import type { Logger } from '#libs/log';
import { policyViolations, type ApiConfig } from '#libs/config';
import { ApiError } from '../common/api-error.js';
import { decodeCursor, encodeCursor } from '../common/cursor.js';
import { IntakeQueues } from '../infra/intake-queues.js';
import { API_CONFIG, LOGGER } from '../infra/tokens.js';
import { poolPolicy } from '../pools/dto/pool.dto.js';
import { JobDefinitionsService, refuseHostMountsWithoutPools, retryRules } from '../job-definitions/job-definitions.service.js';
import { JobQueuesService } from '../job-queues/job-queues.service.js';
import { PoolsService } from '../pools/pools.service.js';
import type { AttemptCostView, CostEstimateView, GpuUtilizationView, JobDetailView, JobListView, JobSummaryView, SubmitJobResponse } from './dto/job.view.js';
import type { ListJobsQuery } from './dto/list-jobs.query.js';
import type { SubmitJobDto } from './dto/submit-job.dto.js';
import { insertArrayChildren } from './array-children.js';
import { apiMetrics } from '../metrics/api-metrics.js';
import { GroupCommit } from './group-commit.js';
import { SubmitJobDto as SubmitJobBody } from './dto/submit-job.dto.js';
import type { BatchEntryResult, BatchSubmitResponse } from './dto/batch-submit.dto.js';
import { BatchRejectedError, entryError } from './batch-errors.js';
import { BODY_LIMIT_BYTES } from '../common/body-limits.js';
import { validateAs } from '../common/validation.js';
import { errorBody } from '../common/api-exception.filter.js';
import { CatalogCache } from '../infra/catalog-cache.js';
import { ProjectAccess } from '../auth/project-access.js';
import type { Caller } from '../auth/caller.js';
import { insertNodeJobs, multiNodeSpec, withDefinitionNodes, type MultiNodeSpec } from './multi-node.js';

/**
 * isIdle (libs/core) in SQL, over one job_attempts row: sampled, and its GPUs
 * averaged under IDLE_GPU_PERCENT. The list flags jobs with it; the detail
 * view applies isIdle itself to the same columns, so both agree.
 */
const IDLE_ATTEMPT_SQL = `a.gpu_util_samples > 0 AND a.gpu_util_avg < ${Number(IDLE_GPU_PERCENT)}`;

/** One EXISTS per listed job, bounded by job_attempts' primary key (job_id, attempt). */
const SUMMARY_COLUMNS = `id, name, queue, project, gpus, array_size, status, status_reason, priority, created_at, started_at, stopped_at,
  created_at::text AS created_at_exact,
  EXISTS (SELECT 1 FROM job_attempts a WHERE a.job_id = jobs.id AND ${IDLE_ATTEMPT_SQL}) AS gpu_idle`;

/** While single submits arrive less than this apart (over 500/s), a group commit waits this long for more. */
const SUBMIT_BUSY_WINDOW_MS = 2;

/** Listing filters beyond the REST query's: by name (exact or prefix, any case), definition, creation time. */
export interface JobListFilters {
  name?: { value: string; prefix: boolean };
  definition?: { name: string; revision?: number; prefix: boolean };
  createdBefore?: Date;
  createdAfter?: Date;
}

interface JobRow {
  id: string; name: string; queue: string; project: string; gpus: number; array_size: number | null; status: string; status_reason: string | null; priority: number;
  created_at: Date; started_at: Date | null; stopped_at: Date | null; created_at_exact: string;
  /** Only in list rows (SUMMARY_COLUMNS); the detail view computes it from the attempts it loads. */
  gpu_idle?: boolean;
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
    @Inject(CatalogCache) private readonly catalog: CatalogCache,
    @Inject(ProjectAccess) private readonly access: ProjectAccess,
  ) {
    // One write in flight, and a short wait while submits arrive back to back: what arrives meanwhile
    // joins the next write, so groups grow with the load (fewer commits, INSERTs and intake messages
    // per job: the Postgres, API and scheduler CPU of a single submit), and a lone submit waits for nothing.
    this.groupCommit = new GroupCommit((items) => this.commitGroup(items), {
      maxBatch: 1000, maxInFlight: 1, windowMs: config.submitGroupWindowMs, busyWindowMs: SUBMIT_BUSY_WINDOW_MS,
    });
  }

  private readonly groupCommit: GroupCommit<PreparedSubmit, SubmitJobResponse | null>;

  /**
   * Commits the job and its first events, then tells the scheduler through
   * the queue's intake. The reply comes only after the commit; if Redis is
   * down the scheduler still finds the job in Postgres. A job with
   * dependencies starts PENDING (or FAILED, if one already failed). Plain
   * jobs (no dependencies, no array) submitted at about the same time share
   * one transaction and one multi-row INSERT (group commit).
   */
  async submit(dto: SubmitJobDto): Promise<SubmitJobResponse> {
    const prepared = await this.prepare(dto);
    if (isPlain(prepared)) {
      const existing = await this.groupCommit.submit(prepared);
      return this.reply(prepared, existing);
    }
    const created = await this.db.transaction((tx) => this.writeWithDependencies(tx, prepared));
    if (!created) return this.reply(prepared, await this.existingByToken(prepared.dto.clientToken!));
    if (created === 'RUNNABLE') await this.wake([prepared]);
    return this.reply(prepared, null);
  }

  /**
   * Submits up to MAX_BATCH_SUBMITS bodies in one request; each gets its
   * own result: its job, or its error naming the field. A bad entry fails
   * alone, unless `allOrNothing`: then any failure commits nothing and
   * rejects the whole request. Every entry passes the checks of a single
   * submit (validation, project access, catalog, container policy, bytes);
   * together they may create at most SUBMIT_MAX_BYTES of jobs.
   */
  async submitBatch(entries: unknown[], caller: Caller, allOrNothing: boolean): Promise<BatchSubmitResponse> {
    const results: BatchEntryResult[] = new Array(entries.length);
    const ready: { index: number; prepared: PreparedSubmit }[] = [];
    let bytes = 0;
    await Promise.all(entries.map(async (entry, index) => {
      try {
        if (Buffer.byteLength(JSON.stringify(entry) ?? '', 'utf8') > BODY_LIMIT_BYTES) {
          throw new ApiError('PAYLOAD_TOO_LARGE', `jobs[${index}] is over ${BODY_LIMIT_BYTES} bytes, the limit of one submit body`, 'jobs');
        }
        const dto = await validateAs(SubmitJobBody, entry);
        this.access.submit(caller, dto.project);
        const prepared = await this.prepare(dto);
        ready.push({ index, prepared });
      } catch (err) {
        results[index] = { index, error: entryError(err) };
      }
    }));
    ready.sort((a, b) => a.index - b.index);
    for (const r of ready) {
      bytes += r.prepared.bytes;
      if (bytes > this.config.submitMaxBytes) {
        results[r.index] = { index: r.index, error: entryError(new ApiError('VALIDATION_FAILED',
          `the batch would create more than ${this.config.submitMaxBytes} bytes of jobs (SUBMIT_MAX_BYTES) with this entry: send fewer or smaller entries`, 'jobs')) };
      }
    }
    const accepted = ready.filter((r) => !results[r.index]);
    const failed = entries.length - accepted.length;
    if (allOrNothing && failed > 0) {
      throw new BatchRejectedError(failed, entries.length, results.filter(Boolean));
    }

    const plain = accepted.filter((r) => isPlain(r.prepared));
    const complex = accepted.filter((r) => !isPlain(r.prepared));
    const outcomes = new Map<number, { existing: SubmitJobResponse | null; runnable: boolean } | { error: unknown }>();
    if (allOrNothing) {
      // One transaction for every entry: any failure (a dependency that does not exist) rolls all back.
      try {
        await this.db.transaction(async (tx) => {
          const existing = await this.writePlain(tx, plain.map((r) => r.prepared));
          plain.forEach((r, i) => outcomes.set(r.index, { existing: existing[i], runnable: existing[i] === null }));
          for (const r of complex) {
            try {
              const created = await this.writeWithDependencies(tx, r.prepared);
              outcomes.set(r.index, { existing: created ? null : await this.existingByToken(r.prepared.dto.clientToken!, tx), runnable: created === 'RUNNABLE' });
            } catch (err) {
              if (errorBody(err).statusCode >= 500) throw err;
              throw new BatchRejectedError(1, entries.length, [{ index: r.index, error: entryError(err) }]);
            }
          }
        });
      } catch (err) {
        if (err instanceof BatchRejectedError || errorBody(err).statusCode >= 500) throw err;
        // The multi-row INSERT refused a value (a NUL byte): which entry is not known.
        throw new BatchRejectedError(1, entries.length, [{ index: -1, error: entryError(err) }]);
      }
    } else {
      if (plain.length > 0) {
        try {
          const existing = await this.writePlain(this.db.manager, plain.map((r) => r.prepared));
          plain.forEach((r, i) => outcomes.set(r.index, { existing: existing[i], runnable: existing[i] === null }));
        } catch {
          // Nothing of that INSERT committed: each entry alone, so the bad one fails by itself.
          for (const r of plain) {
            try {
              const [existing] = await this.writePlain(this.db.manager, [r.prepared]);
              outcomes.set(r.index, { existing, runnable: existing === null });
            } catch (error) {
              outcomes.set(r.index, { error });
            }
          }
        }
      }
      for (const r of complex) {
        try {
          const created = await this.db.transaction((tx) => this.writeWithDependencies(tx, r.prepared));
          outcomes.set(r.index, { existing: created ? null : await this.existingByToken(r.prepared.dto.clientToken!), runnable: created === 'RUNNABLE' });
        } catch (error) {
          outcomes.set(r.index, { error });
        }
      }
    }
    await this.wake(accepted.filter((r) => { const o = outcomes.get(r.index); return o && 'runnable' in o && o.runnable; }).map((r) => r.prepared));
    for (const r of accepted) {
      const o = outcomes.get(r.index)!;
      if ('error' in o) {
        if (errorBody(o.error).statusCode >= 500) this.logger.error({ err: o.error }, 'batch entry failed');
        results[r.index] = { index: r.index, error: entryError(o.error) };
      } else {
        results[r.index] = { index: r.index, ...(await this.reply(r.prepared, o.existing)) };
      }
    }
    const submitted = results.filter((r) => r.jobId !== undefined).length;
    return { submitted, failed: entries.length - submitted, results };
  }

  /** Everything a submit is checked for before it is written; 4xx naming the field otherwise. */
  private async prepare(dto: SubmitJobDto): Promise<PreparedSubmit> {
    const requested = multiNodeSpec(dto);
    const { queue, definition, job } = await this.resolve(dto, { enabledQueue: true });
    const nodes = withDefinitionNodes(requested, dto, definition);
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
    const bytes = this.checkSubmitBytes(dto, job, secrets, size ?? nodes?.count ?? 1);
    const deps = dependencyKinds(dto);
    return { id: randomUUID(), dto, queue, definition, job, secrets, size, nodes, deps, bytes };
  }

  /** The reply to a written submit: its job, or the one its client token made before (as AWS Batch answers). */
  private async reply(p: PreparedSubmit, existing: SubmitJobResponse | null): Promise<SubmitJobResponse> {
    if (existing) return existing;
    apiMetrics.submits.inc({ queue: p.queue.name, project: p.dto.project ?? 'default' });
    const estimatedMaxCost = await this.estimate(p.queue, p.job, p.dto.interruptible ?? false, p.size ?? p.nodes?.count ?? 1);
    return { jobId: p.id, name: p.dto.name, ...(estimatedMaxCost && { estimatedMaxCost }) };
  }

  private async existingByToken(token: string, tx: EntityManager = this.db.manager): Promise<SubmitJobResponse> {
    const [existing] = await tx.query(`SELECT id, name FROM jobs WHERE client_token = $1`, [token]);
    return { jobId: existing.id, name: existing.name };
  }

  /** One group commit: its own transaction, one INSERT, one intake message per job queue. */
  private async commitGroup(items: PreparedSubmit[]): Promise<(SubmitJobResponse | null)[]> {
    let existing: (SubmitJobResponse | null)[];
    try {
      // One statement is its own transaction: no BEGIN and COMMIT round trips.
      existing = await this.writePlain(this.db.manager, items);
    } catch (err) {
      // Alone, and its id already there: an earlier try committed although its reply was lost (a dropped connection at COMMIT).
      if (items.length === 1 && (err as { constraint?: string; driverError?: { constraint?: string } }).driverError?.constraint === 'jobs_pkey') {
        existing = [null];
      } else {
        throw err;
      }
    }
    await this.wake(items.filter((_, i) => existing[i] === null));
    return existing;
  }

  /** Tells the scheduler about committed RUNNABLE jobs: one intake message per job queue. */
  private async wake(items: PreparedSubmit[]): Promise<void> {
    const byQueue = new Map<string, PreparedSubmit[]>();
    for (const p of items) {
      const list = byQueue.get(p.queue.name);
      if (list) list.push(p);
      else byQueue.set(p.queue.name, [p]);
    }
    await Promise.all([...byQueue].map(([queue, list]) =>
      this.intake.addMany(queue, list.map((p) => p.id), Math.max(...list.map((p) => p.job.priority))).catch((err: Error) =>
        this.logger.warn({ err, jobs: list.length }, 'intake add failed; the scheduler will find the jobs in Postgres'))));
  }

  /**
   * Plain jobs (no dependencies, no array) in one multi-row INSERT with their
   * first events. Returns, per item, null when its row was inserted, or the
   * job its client token made before.
   */
  private async writePlain(tx: EntityManager, items: PreparedSubmit[]): Promise<(SubmitJobResponse | null)[]> {
    if (items.length === 0) return [];
    const rows = items.map((p, n) => ({
      n, id: p.id, name: p.dto.name, queue: p.queue.name, definition_id: p.definition.id, priority: p.job.priority, image: p.definition.image,
      command: p.job.command, environment: p.job.environment, vcpus: p.job.resources.vcpus, memory_mib: p.job.resources.memoryMiB,
      gpus: p.job.resources.gpus, gpu_model: p.job.resources.gpus > 0 ? p.job.resources.gpuModel : null, label_selector: p.job.labelSelector,
      timeout_seconds: p.job.timeoutSeconds, max_attempts: p.job.maxAttempts, project: p.dto.project ?? 'default', tags: p.dto.tags ?? {},
      client_token: p.dto.clientToken ?? null, retry_rules: p.job.retryRules, interruptible: p.dto.interruptible ?? false,
      container: p.definition.container ?? {}, secret_environment: p.secrets,
      preemptible: p.job.preemptible, preemption_grace_seconds: p.job.preemptionGraceSeconds, parameters: p.job.parameters,
    }));
    const inserted: { id: string }[] = await tx.query(
      `WITH job AS (
         INSERT INTO jobs (id, name, queue, definition_id, status, status_reason, priority, image, command, environment,
                           vcpus, memory_mib, gpus, gpu_model, label_selector, timeout_seconds, max_attempts, project, tags, client_token,
                           retry_rules, interruptible, container, secret_environment, preemptible, preemption_grace_seconds, parameters)
         SELECT r.id, r.name, r.queue, r.definition_id, 'RUNNABLE', 'Waiting for the scheduler', r.priority, r.image, r.command, r.environment,
                r.vcpus, r.memory_mib, r.gpus, r.gpu_model, r.label_selector, r.timeout_seconds, r.max_attempts, r.project, r.tags, r.client_token,
                r.retry_rules, r.interruptible, r.container, r.secret_environment, r.preemptible, r.preemption_grace_seconds, r.parameters
         FROM jsonb_to_recordset($1::jsonb) AS r(
           id varchar, name varchar, queue varchar, definition_id bigint, priority integer, image text, command jsonb, environment jsonb,
           vcpus numeric, memory_mib integer, gpus integer, gpu_model text, label_selector text, timeout_seconds integer, max_attempts integer,
           project varchar, tags jsonb, client_token varchar, retry_rules jsonb, interruptible boolean, container jsonb, secret_environment jsonb,
           preemptible boolean, preemption_grace_seconds integer, parameters jsonb, n integer)
         ORDER BY r.n
         ON CONFLICT (client_token) DO NOTHING
         RETURNING id, created_at),
       ${firstEvents(`'RUNNABLE'`, `'Waiting for the scheduler'`)}
       SELECT id FROM job`,
      [JSON.stringify(rows)],
    );
    const ids = new Set(inserted.map((r) => r.id));
    const missing = items.filter((p) => !ids.has(p.id));
    const byToken = new Map<string, SubmitJobResponse>();
    if (missing.length > 0) {
      const found: { id: string; name: string; client_token: string }[] = await tx.query(
        `SELECT id, name, client_token FROM jobs WHERE client_token = ANY($1)`, [missing.map((p) => p.dto.clientToken)],
      );
      for (const f of found) byToken.set(f.client_token, { jobId: f.id, name: f.name });
    }
    return items.map((p) => (ids.has(p.id) ? null : byToken.get(p.dto.clientToken!)!));
  }

  /** A job with dependencies, an array or nodes: its rows in the caller's transaction. Undefined when its client token was used before. */
  private async writeWithDependencies(tx: EntityManager, p: PreparedSubmit): Promise<string | undefined> {
    const { id, dto, queue, definition, job, secrets, size, nodes, deps } = p;
    const depsState = await this.startingState(tx, deps.plain);
    if (deps.nToN) await this.checkNToN(tx, deps.nToN, size!);
    // An array parent never runs: it waits PENDING while its children run, and finishes with them.
    const start = size && depsState.status !== 'FAILED' ? { status: 'PENDING' as const, reason: `ARRAY: ${size} children` } : depsState;
    const inserted: { id: string }[] = await tx.query(
      `WITH job AS (
         INSERT INTO jobs (id, name, queue, definition_id, status, status_reason, priority, image, command, environment,
                           vcpus, memory_mib, gpus, gpu_model, label_selector, timeout_seconds, max_attempts, project, tags, client_token,
                           retry_rules, array_size, interruptible, stopped_at, container, secret_environment, node_count, node_index, topology_key,
                           preemptible, preemption_grace_seconds, parameters)
         VALUES ($1, $2, $3, $4, $20::varchar, $21::text, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
                 $22, $23, CASE WHEN $20::varchar = 'FAILED' THEN clock_timestamp() END, $24, $25, $26::int, CASE WHEN $26::int IS NOT NULL THEN 0 END, $27,
                 $28, $29, $30)
         ON CONFLICT (client_token) DO NOTHING
         RETURNING id, created_at),
       ${firstEvents('$20::varchar', '$21::text')}
       SELECT id FROM job`,
      [
        id, dto.name, queue.name, definition.id, job.priority, definition.image, JSON.stringify(job.command),
        JSON.stringify(job.environment), job.resources.vcpus, job.resources.memoryMiB, job.resources.gpus,
        job.resources.gpus > 0 ? job.resources.gpuModel : null, job.labelSelector, job.timeoutSeconds, job.maxAttempts,
        dto.project ?? 'default', JSON.stringify(dto.tags ?? {}), dto.clientToken ?? null, JSON.stringify(job.retryRules),
        start.status, start.reason, size ?? null, dto.interruptible ?? false,
        JSON.stringify(definition.container ?? {}), JSON.stringify(secrets), nodes?.count ?? null, nodes?.topologyKey ?? null,
        // A multi-node job is never preempted: its nodes are stopped and retried together, not one by one.
        job.preemptible && !nodes, job.preemptionGraceSeconds, JSON.stringify(job.parameters),
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
    const queue = await this.catalog.get(`queue:${dto.queue}`, () => this.queues.get(dto.queue));
    if (options.enabledQueue && queue.state !== 'ENABLED') throw new ApiError('JOB_QUEUE_DISABLED', `job queue ${queue.name} is DISABLED`);
    const definition = await this.catalog.get(`definition:${dto.definition}`, () => this.definitions.resolveRef(dto.definition));
    if (definition.status !== 'ACTIVE') {
      throw new ApiError('DEFINITION_INACTIVE', `job definition ${definition.name}:${definition.revision} is INACTIVE`);
    }
    return { queue, definition, job: this.mergeJob(dto, definition, options.path ?? '') };
  }

  private async estimate(queue: JobQueueEntity, job: ReturnType<JobsService['mergeJob']>, interruptible: boolean, copies: number): Promise<CostEstimateView | undefined> {
    if (job.timeoutSeconds === null) return undefined;
    const priced = await this.catalog.get(`prices:${queue.pools.join(',')}`, () => this.pools.priceCards(queue.pools));
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
    const pools = await this.catalog.get(`pools:${queue.pools.join(',')}`, () => this.pools.forQueue(queue.pools));
    const problems = pools.map((pool) => policyViolations(
      { name: pool.name, policy: poolPolicy(pool) },
      { image: definition.image, memoryMiB: job.resources.memoryMiB, container: definition.container ?? {} },
      `definition ${definition.name}:${definition.revision} `,
    ));
    if (problems.length > 0 && problems.every((p) => p.length > 0)) {
      throw new ApiError('VALIDATION_FAILED', problems.length === 1 ? problems[0][0].message : `${problems[0][0].message}; no pool of queue ${queue.name} allows it`);
    }
    if (pools.length === 0) refuseHostMountsWithoutPools(definition.container ?? {}, `definition ${definition.name}:${definition.revision} `);
  }

  /** The definition's sealed secrets with the submit's own (sealed now) over them. */
  private sealedSecrets(dto: SubmitJobDto, definition: JobDefinitionEntity): Record<string, string> {
    const overrides = dto.overrides?.secretEnvironment ?? {};
    const plainToo = Object.keys(overrides).filter((k) => k in (dto.overrides?.environment ?? {}));
    if (plainToo.length) throw new ApiError('VALIDATION_FAILED', `overrides.secretEnvironment names ${plainToo.join(', ')}, also in overrides.environment`);
    return { ...definition.secretEnvironment, ...this.definitions.sealSecrets(overrides, 'overrides.secretEnvironment') };
  }

  /** A submit may create at most SUBMIT_MAX_BYTES of job rows, every array child counted. */
  private checkSubmitBytes(dto: SubmitJobDto, job: ReturnType<JobsService['mergeJob']>, secrets: Record<string, string>, copies: number): number {
    const perJob = Buffer.byteLength(JSON.stringify({
      name: dto.name, command: job.command, environment: job.environment, secrets, tags: dto.tags ?? {}, retryRules: job.retryRules, parameters: job.parameters,
      labelSelector: job.labelSelector, dependsOn: dto.dependsOn ?? [],
    }), 'utf8') + 512; // + the fixed columns, events and index entries of a row
    const total = perJob * (copies > 1 ? copies + 1 : 1);
    if (total > this.config.submitMaxBytes) {
      throw new ApiError('VALIDATION_FAILED', `the submit would create about ${total} bytes of jobs (${copies > 1 ? `${copies} array children of ` : ''}${perJob} bytes each); the limit is ${this.config.submitMaxBytes} (SUBMIT_MAX_BYTES): shrink command, environment, tags or array.size`);
    }
    return total;
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
      // Kept with the job (AWS's DescribeJobs returns them): the definition's defaults with the submit's over them.
      parameters: { ...d.parameters, ...dto.parameters },
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
  /** filters: what the AWS Batch API's ListJobs filters by besides queue and status. */
  async list(q: ListJobsQuery, projects: string[] | null = null, filters: JobListFilters = {}): Promise<JobListView> {
    const limit = q.limit ?? 100;
    const where: string[] = [];
    const params: unknown[] = [];
    if (projects !== null) where.push(`project = ANY($${params.push(projects)})`);
    const like = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);
    if (filters.name) {
      where.push(filters.name.prefix ? `lower(name) LIKE lower($${params.push(like(filters.name.value))}) || '%'` : `lower(name) = lower($${params.push(filters.name.value)})`);
    }
    if (filters.definition) {
      const d = filters.definition;
      const byName = d.prefix ? `name LIKE $${params.push(like(d.name))} || '%'` : `name = $${params.push(d.name)}`;
      const byRevision = d.revision !== undefined ? ` AND revision = $${params.push(d.revision)}` : '';
      where.push(`definition_id IN (SELECT id FROM job_definitions WHERE ${byName}${byRevision})`);
    }
    if (filters.createdBefore) where.push(`created_at < $${params.push(filters.createdBefore.toISOString())}::timestamptz`);
    if (filters.createdAfter) where.push(`created_at > $${params.push(filters.createdAfter.toISOString())}::timestamptz`);
    // Array children are listed through their parent (arrayJobId), as in AWS Batch.
    where.push(q.arrayJobId ? `parent_id = $${params.push(q.arrayJobId)}` : 'parent_id IS NULL');
    if (q.queue) where.push(`queue = $${params.push(q.queue)}`);
    if (q.status) where.push(`status = $${params.push(q.status)}`);
    if (q.project) where.push(`project = $${params.push(q.project)}`);
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
      parameters: row.parameters,
      tags: row.tags,
      interruptible: row.interruptible,
      preemptible: row.preemptible,
      preemptionGraceSeconds: row.preemption_grace_seconds,
      preemptionCount: row.preemption_count,
      ...jobCost(row.status, [...usage, ...childCosts]),
      attempts: attempts.map((a) => ({
        attempt: a.attempt, status: a.status, workerId: a.workerId, pool: a.pool, gpuDevices: a.gpuDevices,
        containerId: a.containerId, startedAt: iso(a.startedAt), stoppedAt: iso(a.stoppedAt), exitCode: a.exitCode, reason: a.reason,
        cost: attemptCost(usage.find((u) => u.attempt === a.attempt)), gpuUtilization: gpuUtilization(a),
      })),
      gpuIdle: attempts.some((a) => gpuUtilization(a)?.idle === true),
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

function gpuUtilization(a: JobAttemptEntity): GpuUtilizationView | null {
  if (!a.gpuUtilSamples) return null;
  const view = {
    samples: a.gpuUtilSamples, avgPercent: a.gpuUtilAvg ?? 0, peakPercent: a.gpuUtilPeak ?? 0,
    avgMemoryMiB: a.gpuMemoryAvgMiB ?? 0, peakMemoryMiB: a.gpuMemoryPeakMiB ?? 0, idleFraction: a.gpuIdleFraction ?? 0,
  };
  return { ...view, idle: isIdle(view) };
}

function iso(d: Date | null): string | null {
  return d ? d.toISOString() : null;
}

function toSummary(r: JobRow): JobSummaryView {
  return {
    jobId: r.id, name: r.name, queue: r.queue, project: r.project, gpus: r.gpus, arraySize: r.array_size, status: r.status, statusReason: r.status_reason, priority: r.priority,
    createdAt: r.created_at.toISOString(), startedAt: iso(r.started_at), stoppedAt: iso(r.stopped_at), gpuIdle: r.gpu_idle === true,
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

type MergedJob = ReturnType<JobsService['mergeJob']>;

/** The CTE that gives every row of the `job` CTE its two first events: SUBMITTED, then its starting state (SQL expressions). */
function firstEvents(status: string, reason: string): string {
  return `events AS (
         INSERT INTO job_events (job_id, at, from_status, to_status, reason)
         SELECT id, created_at, NULL, 'SUBMITTED', 'Job submitted' FROM job
         UNION ALL
         SELECT id, created_at, 'SUBMITTED', ${status}, ${reason} FROM job)`;
}

/** A submit that passed every check, with its job id chosen. */
interface PreparedSubmit {
  id: string;
  dto: SubmitJobDto;
  queue: JobQueueEntity;
  definition: JobDefinitionEntity;
  job: MergedJob;
  secrets: Record<string, string>;
  size: number | undefined;
  /** A multi-node (gang) job's nodes. */
  nodes: MultiNodeSpec | undefined;
  deps: { plain: string[]; nToN?: string; sequential: boolean };
  /** Bytes of job rows it creates (SUBMIT_MAX_BYTES). */
  bytes: number;
}

/** No dependencies, no array and no nodes: one row and two events, fit for a multi-row INSERT. */
function isPlain(p: PreparedSubmit): boolean {
  return p.deps.plain.length === 0 && p.deps.nToN === undefined && !p.deps.sequential && p.size === undefined && p.nodes === undefined;
}
