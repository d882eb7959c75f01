import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Caller } from '../auth/caller.js';
import { ProjectAccess } from '../auth/project-access.js';
import { ApiError } from '../common/api-error.js';
import type { JobDetailView } from '../jobs/dto/job.view.js';
import { StopJobDto } from '../jobs/dto/stop-job.dto.js';
import { SubmitJobDto } from '../jobs/dto/submit-job.dto.js';
import { JobStopService } from '../jobs/job-stop.service.js';
import { JobsService, type JobListFilters } from '../jobs/jobs.service.js';
import { JobDefinitionsService } from '../job-definitions/job-definitions.service.js';
import { nodeRange } from '../jobs/multi-node.js';
import { JOB_STATUSES, MAX_GANG_NODES, MIN_GANG_NODES } from '#libs/core';
import { arnOf, nameFrom } from './arns.js';
import { awsContainerExtras, awsNodeProperties, keyValuePairs, resourceRequirements, resourcesFrom, retryStrategyFrom, splitRef } from './aws-job-definitions.js';
import { AwsInput, validated } from './aws-input.js';
import { checkTags } from './aws-tags.js';

const ms = (iso: string | null | undefined): number | undefined => (iso ? new Date(iso).getTime() : undefined);
const NOT_HERE = 'gpubatch runs Docker containers on its own workers, not ECS or EKS tasks (docs/aws-batch.md)';

/** SubmitJob, DescribeJobs, ListJobs, CancelJob, TerminateJob over gpubatch's jobs. */
@Injectable()
export class AwsJobs {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(JobsService) private readonly jobs: JobsService,
    @Inject(JobStopService) private readonly stopper: JobStopService,
    @Inject(ProjectAccess) private readonly access: ProjectAccess,
    @Inject(JobDefinitionsService) private readonly definitions: JobDefinitionsService,
  ) {}

  async submit(body: AwsInput, caller: Caller) {
    body.refuse(['eksPropertiesOverride', 'ecsPropertiesOverride', 'consumableResourcePropertiesOverride'], NOT_HERE);
    const submission = this.submission(body);
    const nodeOverrides = body.object('nodeOverrides');
    if (nodeOverrides) {
      // The rest first, so that a malformed jobDefinition is named as such before nodeOverrides looks it up.
      await validated(SubmitJobDto, submission, 'SubmitJob');
      await this.applyNodeOverrides(submission, nodeOverrides);
    }
    const dto = await validated(SubmitJobDto, submission, 'SubmitJob');
    this.access.submit(caller, dto.project);
    const created = await this.jobs.submit(dto);
    return { jobArn: arnOf.job(created.jobId), jobName: created.name, jobId: created.jobId };
  }

  /**
   * nodeOverrides onto the gang: numNodes becomes `nodes.count`, and the
   * container overrides apply to every node. gpubatch runs one container shape
   * on every node, so each override must target all nodes (or several must
   * cover them all with the same override); anything else is refused, naming it.
   */
  private async applyNodeOverrides(submission: Record<string, unknown>, input: AwsInput): Promise<void> {
    const numNodes = input.integer('numNodes', MIN_GANG_NODES, MAX_GANG_NODES);
    const definition = await this.definitions.resolveRef(submission.definition as string);
    const count = numNodes ?? definition.nodes?.count;
    if (count === undefined) {
      throw new ApiError('VALIDATION_FAILED',
        `nodeOverrides applies to multi-node jobs: job definition ${definition.name}:${definition.revision} is a container job definition (give nodeOverrides.numNodes to run it on several nodes)`);
    }
    const list = input.objects('nodePropertyOverrides', MAX_GANG_NODES) ?? [];
    const covered = new Array<boolean>(count).fill(false);
    let first: Record<string, unknown> | undefined;
    list.forEach((o, i) => {
      const field = `nodeOverrides.nodePropertyOverrides[${i}]`;
      const [from, to] = nodeRange(o.string('targetNodes', true), count, `${field}.targetNodes`);
      for (let n = from; n <= to; n++) covered[n] = true;
      o.refuse(['ecsPropertiesOverride', 'eksPropertiesOverride', 'consumableResourcePropertiesOverride'], NOT_HERE);
      const override = containerOverride(o.object('containerOverrides'));
      if (!first) {
        first = override;
        return;
      }
      const differ = Object.keys({ ...first, ...override }).filter((k) => JSON.stringify(first![k]) !== JSON.stringify(override[k]));
      if (differ.length) {
        throw new ApiError('VALIDATION_FAILED',
          `${field}.containerOverrides differs from nodeOverrides.nodePropertyOverrides[0].containerOverrides in ${differ.map((k) => (k === 'resources' ? 'resourceRequirements' : k)).join(', ')}: `
          + 'gpubatch runs the same container on every node of a job; give one override with targetNodes "0:" for all nodes');
      }
    });
    const missing = covered.findIndex((c) => !c);
    if (list.length > 0 && missing >= 0) {
      throw new ApiError('VALIDATION_FAILED',
        `nodeOverrides.nodePropertyOverrides leaves node ${missing} of ${count} without the override: gpubatch runs the same container on every node of a job; target "0:" (all nodes)`);
    }
    if (first) {
      // The node override over containerOverrides, field by field; environment and resources merge.
      const base = (submission.overrides ?? {}) as Record<string, Record<string, unknown> | string[] | undefined>;
      const merged: Record<string, unknown> = { ...base, ...first };
      if (base.environment && first.environment) merged.environment = { ...base.environment, ...(first.environment as object) };
      if (base.resources && first.resources) merged.resources = { ...base.resources, ...(first.resources as object) };
      submission.overrides = merged;
    }
    if (numNodes !== undefined) submission.nodes = { count: numNodes };
  }

  /** The gpubatch submit body an AWS SubmitJob maps to. */
  private submission(body: AwsInput): Record<string, unknown> {
    const timeout = body.object('timeout');
    const size = body.object('arrayProperties')?.integer('size', 0, 1_000_000);
    const dependsOn = body.objects('dependsOn', 100)?.map((d) => ({
      ...(d.has('jobId') ? { jobId: nameFrom(d.string('jobId')!, 'job', 'dependsOn.jobId') } : {}),
      ...(d.has('type') ? { type: d.oneOf('type', ['N_TO_N', 'SEQUENTIAL'] as const) } : {}),
    }));
    const override = containerOverride(body.object('containerOverrides'));
    return {
      name: body.string('jobName', true),
      queue: nameFrom(body.string('jobQueue', true), 'job-queue', 'jobQueue'),
      definition: nameFrom(body.string('jobDefinition', true), 'job-definition', 'jobDefinition'),
      ...(Object.keys(override).length ? { overrides: override } : {}),
      ...(body.has('parameters') ? { parameters: body.map('parameters') } : {}),
      // AWS's size 0 (or no arrayProperties) is a plain job.
      ...(size ? { array: { size } } : {}),
      ...(dependsOn ? { dependsOn } : {}),
      ...(body.has('retryStrategy') ? { retryStrategy: retryStrategyFrom(body.object('retryStrategy')) } : {}),
      ...(timeout?.has('attemptDurationSeconds') ? { timeoutSeconds: timeout.integer('attemptDurationSeconds', 1, 14 * 24 * 3600) } : {}),
      ...(body.has('tags') ? { tags: checkTags(body.map('tags')!) } : {}),
      ...(body.has('schedulingPriorityOverride') ? { priority: body.integer('schedulingPriorityOverride', 0, 9999) } : {}),
      ...(body.has('shareIdentifier') ? { project: body.string('shareIdentifier') } : {}),
    };
  }

  /** Up to 100 ids (or job ARNs); ids the caller cannot see are left out, as AWS leaves out unknown ones. */
  async describe(body: AwsInput, caller: Caller) {
    const ids = body.strings('jobs', 100);
    if (!ids) throw new ApiError('VALIDATION_FAILED', 'jobs is required: a list of up to 100 job ids');
    const out = [];
    for (const ref of new Set(ids)) {
      const asked = nameFrom(ref, 'job', 'jobs');
      const node = nodeRef(asked);
      const id = node?.jobId ?? asked;
      if (!(await this.visible(caller, id))) continue;
      const detail = await this.jobs.describe(id);
      // `<id>#<n>` names a node of a multi-node job only: of any other job it names nothing, as in AWS.
      if (node && detail.nodeProperties === null) continue;
      out.push(awsJobDetail(detail, node ? asked : undefined));
    }
    return { jobs: out };
  }

  /**
   * ListJobs as AWS answers it: RUNNING jobs when no status is given, every
   * status when filters are given; nextToken pages newest first.
   */
  async list(body: AwsInput, caller: Caller) {
    if (body.has('multiNodeJobId')) return this.listNodes(body, caller);
    const queue = body.has('jobQueue') ? nameFrom(body.string('jobQueue')!, 'job-queue', 'jobQueue') : undefined;
    const arrayJobId = body.has('arrayJobId') ? nameFrom(body.string('arrayJobId')!, 'job', 'arrayJobId') : undefined;
    const status = body.oneOf('jobStatus', JOB_STATUSES);
    const filters = this.filters(body.objects('filters', 4) ?? []);
    if (arrayJobId) await this.access.job(caller, arrayJobId, 'read');
    const filtered = Object.keys(filters).length > 0;
    const listed = await this.jobs.list({
      ...(queue ? { queue } : {}), ...(arrayJobId ? { arrayJobId } : {}),
      ...(filtered ? {} : { status: status ?? 'RUNNING' }),
      limit: body.integer('maxResults', 1, 1000) ?? 100,
      ...(body.has('nextToken') ? { cursor: body.string('nextToken') } : {}),
    }, this.access.readable(caller), filters);
    const ids = listed.jobs.map((j) => j.jobId);
    const extra: { id: string; project: string; array_size: number | null; array_index: number | null; definition: string; exit_code: number | null; reason: string | null }[] =
      await this.db.query(
        `SELECT j.id, j.project, j.array_size, j.array_index, d.name || ':' || d.revision AS definition, a.exit_code, a.reason
         FROM jobs j JOIN job_definitions d ON d.id = j.definition_id
         LEFT JOIN LATERAL (SELECT exit_code, reason FROM job_attempts WHERE job_id = j.id ORDER BY attempt DESC LIMIT 1) a ON true
         WHERE j.id = ANY($1)`, [ids],
      );
    const byId = new Map(extra.map((e) => [e.id, e]));
    return {
      jobSummaryList: listed.jobs.map((j) => {
        const e = byId.get(j.jobId)!;
        const [defName, defRevision] = e.definition.split(':');
        return {
          jobArn: arnOf.job(j.jobId), jobId: j.jobId, jobName: j.name, createdAt: ms(j.createdAt), status: j.status,
          ...(j.statusReason ? { statusReason: j.statusReason } : {}),
          ...(j.startedAt ? { startedAt: ms(j.startedAt) } : {}), ...(j.stoppedAt ? { stoppedAt: ms(j.stoppedAt) } : {}),
          ...(e.exit_code !== null || e.reason !== null ? { container: { ...(e.exit_code !== null ? { exitCode: e.exit_code } : {}), ...(e.reason ? { reason: e.reason } : {}) } } : {}),
          ...(e.array_size !== null ? { arrayProperties: { size: e.array_size } } : e.array_index !== null ? { arrayProperties: { index: e.array_index } } : {}),
          jobDefinition: arnOf.jobDefinition(defName!, Number(defRevision)),
          shareIdentifier: e.project,
        };
      }),
      ...(listed.nextCursor ? { nextToken: listed.nextCursor } : {}),
    };
  }

  /**
   * ListJobs with multiNodeJobId: the nodes of that multi-node job, as
   * `<jobId>#<index>`, in node order (RUNNING ones when no status is given).
   */
  private async listNodes(body: AwsInput, caller: Caller) {
    const id = nameFrom(body.string('multiNodeJobId')!, 'job', 'multiNodeJobId');
    if (body.has('jobQueue') || body.has('arrayJobId') || body.has('filters')) {
      throw new ApiError('VALIDATION_FAILED', 'multiNodeJobId lists the nodes of one job: give it without jobQueue, arrayJobId or filters');
    }
    const status = body.oneOf('jobStatus', JOB_STATUSES) ?? 'RUNNING';
    await this.access.job(caller, id, 'read');
    const rows: {
      node_index: number; node_count: number; name: string; status: string; status_reason: string | null; created_at: Date; started_at: Date | null;
      stopped_at: Date | null; project: string; definition: string; exit_code: number | null; reason: string | null;
    }[] = await this.db.query(
      `SELECT j.node_index, j.node_count, j.name, j.status, j.status_reason, j.created_at, j.started_at, j.stopped_at, j.project,
              d.name || ':' || d.revision AS definition, a.exit_code, a.reason
       FROM jobs j JOIN job_definitions d ON d.id = j.definition_id
       LEFT JOIN LATERAL (SELECT exit_code, reason FROM job_attempts WHERE job_id = j.id ORDER BY attempt DESC LIMIT 1) a ON true
       WHERE (j.id = $1 OR j.parent_id = $1) AND j.node_index IS NOT NULL AND j.status = $2
       ORDER BY j.node_index`, [id, status],
    );
    return {
      jobSummaryList: rows.map((r) => {
        const [defName, defRevision] = r.definition.split(':');
        const nodeId = `${id}#${r.node_index}`;
        return {
          jobArn: arnOf.job(nodeId), jobId: nodeId, jobName: r.name, createdAt: r.created_at.getTime(), status: r.status,
          ...(r.status_reason ? { statusReason: r.status_reason } : {}),
          ...(r.started_at ? { startedAt: r.started_at.getTime() } : {}), ...(r.stopped_at ? { stoppedAt: r.stopped_at.getTime() } : {}),
          ...(r.exit_code !== null || r.reason !== null ? { container: { ...(r.exit_code !== null ? { exitCode: r.exit_code } : {}), ...(r.reason ? { reason: r.reason } : {}) } } : {}),
          nodeProperties: { isMainNode: r.node_index === 0, numNodes: r.node_count, nodeIndex: r.node_index },
          jobDefinition: arnOf.jobDefinition(defName!, Number(defRevision)),
          shareIdentifier: r.project,
        };
      }),
    };
  }

  /** AWS's four ListJobs filters; a value ending in * matches by prefix. */
  private filters(list: AwsInput[]): JobListFilters {
    const out: JobListFilters = {};
    for (const f of list) {
      const name = f.oneOf('name', ['JOB_NAME', 'JOB_DEFINITION', 'BEFORE_CREATED_AT', 'AFTER_CREATED_AT'] as const, true)!;
      const values = f.strings('values', 1);
      if (!values?.length || !values[0]) throw new ApiError('VALIDATION_FAILED', `filters ${name} needs one value`);
      const value = values[0];
      const prefix = value.endsWith('*');
      const bare = prefix ? value.slice(0, -1) : value;
      if (name === 'JOB_NAME') out.name = { value: bare, prefix };
      else if (name === 'JOB_DEFINITION') {
        const ref = nameFrom(bare, 'job-definition', 'filters JOB_DEFINITION');
        if (prefix) out.definition = { name: ref, prefix };
        else {
          const [n, revision] = splitRef(ref);
          out.definition = { name: n, ...(revision !== undefined ? { revision } : {}), prefix };
        }
      } else {
        if (!/^[0-9]{1,15}$/.test(value)) throw new ApiError('VALIDATION_FAILED', `filters ${name} value must be a time in epoch milliseconds`);
        if (name === 'BEFORE_CREATED_AT') out.createdBefore = new Date(Number(value));
        else out.createdAfter = new Date(Number(value));
      }
    }
    return out;
  }

  /** AWS: cancelling a job that is already STARTING or RUNNING succeeds and changes nothing (TerminateJob stops it). */
  async cancel(body: AwsInput, caller: Caller) {
    const { id, reason } = await this.stopRequest(body, caller, 'CancelJob');
    try {
      await this.stopper.cancel(id, reason);
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 'JOB_NOT_CANCELLABLE')) throw err;
    }
    return {};
  }

  async terminate(body: AwsInput, caller: Caller) {
    const { id, reason } = await this.stopRequest(body, caller, 'TerminateJob');
    await this.stopper.terminate(id, reason);
    return {};
  }

  private async stopRequest(body: AwsInput, caller: Caller, operation: string): Promise<{ id: string; reason: string }> {
    const id = nameFrom(body.string('jobId', true), 'job', 'jobId');
    const { reason } = await validated(StopJobDto, { reason: body.string('reason', true) }, operation);
    await this.access.job(caller, id, 'submit');
    return { id, reason };
  }

  private async visible(caller: Caller, id: string): Promise<boolean> {
    try {
      await this.access.job(caller, id, 'read');
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.code === 'JOB_NOT_FOUND') return false;
      throw err;
    }
  }
}

/** AWS's containerOverrides (command, environment, resourceRequirements) as gpubatch's `overrides`. */
function containerOverride(overrides: AwsInput | undefined): Record<string, unknown> {
  if (!overrides) return {};
  const resources = resourcesFrom(overrides);
  return {
    ...(overrides.has('command') ? { command: overrides.strings('command') } : {}),
    ...(overrides.has('environment') ? { environment: overrides.keyValuePairs('environment') } : {}),
    ...(Object.keys(resources).length ? { resources } : {}),
  };
}

const ALL_STATUSES = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0]));

/**
 * AWS's address of a multi-node job's node, `<jobId>#<index>`, as gpubatch's
 * job id: node 0 is the job itself, node i the child `<jobId>:node<i>`.
 */
export function nodeRef(id: string): { jobId: string; index: number } | undefined {
  const m = /^(.+)#([0-9]{1,2})$/.exec(id);
  if (!m) return undefined;
  const index = Number(m[2]);
  return { jobId: index === 0 ? m[1]! : `${m[1]}:node${index}`, index };
}

/**
 * gpubatch's job detail in AWS's JobDetail shape. A multi-node job described
 * by its id has `nodeProperties`; a node (asked for as `<jobId>#<index>`, or
 * as gpubatch's `<jobId>:node<i>`) has `nodeDetails`, under the id it was asked by.
 */
export function awsJobDetail(j: JobDetailView, askedAs?: string) {
  const [defName, defRevision] = j.definition.split(':');
  const last = j.attempts.at(-1);
  const c = j.containerProperties as Parameters<typeof awsContainerExtras>[0];
  const array = j.arrayProperties;
  const jobId = askedAs ?? j.jobId;
  const container = {
    image: j.image,
    command: j.command,
    environment: keyValuePairs(j.environment),
    resourceRequirements: resourceRequirements(j.resources),
    ...awsContainerExtras(c),
  };
  const np = j.nodeProperties;
  const nodeIndex = np === null ? undefined : 'nodeIndex' in np ? np.nodeIndex : askedAs ? 0 : undefined;
  return {
    jobArn: arnOf.job(jobId),
    jobName: j.name,
    jobId,
    jobQueue: arnOf.jobQueue(j.queue),
    status: j.status,
    shareIdentifier: j.project,
    schedulingPriority: j.priority,
    attempts: j.attempts.filter((a) => a.startedAt || a.stoppedAt).map((a) => ({
      container: {
        ...(a.exitCode !== null ? { exitCode: a.exitCode } : {}),
        ...(a.reason ? { reason: a.reason } : {}),
        ...(a.containerId ? { taskArn: a.containerId } : {}),
        containerInstanceArn: a.workerId,
        logStreamName: `${j.jobId}/${a.attempt}`,
      },
      ...(a.startedAt ? { startedAt: ms(a.startedAt) } : {}),
      ...(a.stoppedAt ? { stoppedAt: ms(a.stoppedAt) } : {}),
      ...(a.reason ? { statusReason: a.reason } : {}),
    })),
    ...(j.statusReason ? { statusReason: j.statusReason } : {}),
    createdAt: ms(j.createdAt),
    retryStrategy: j.retryStrategy,
    ...(j.startedAt ? { startedAt: ms(j.startedAt) } : {}),
    ...(j.stoppedAt ? { stoppedAt: ms(j.stoppedAt) } : {}),
    dependsOn: j.dependsOn.map((d) => ({ jobId: d.jobId })),
    jobDefinition: arnOf.jobDefinition(defName!, Number(defRevision)),
    parameters: j.parameters,
    container: {
      ...container,
      ...(last?.exitCode !== null && last?.exitCode !== undefined ? { exitCode: last.exitCode } : {}),
      ...(last?.reason ? { reason: last.reason } : {}),
      ...(last ? { logStreamName: `${j.jobId}/${last.attempt}` } : {}),
    },
    ...(array && 'size' in array ? { arrayProperties: { size: array.size, statusSummary: { ...ALL_STATUSES, ...array.statusSummary } } } : {}),
    ...(array && 'index' in array ? { arrayProperties: { index: array.index } } : {}),
    ...(np && 'numNodes' in np && nodeIndex === undefined ? { nodeProperties: awsNodeProperties(np.numNodes, container) } : {}),
    ...(nodeIndex !== undefined ? { nodeDetails: { nodeIndex, isMainNode: nodeIndex === 0 } } : {}),
    ...(j.timeoutSeconds !== null ? { timeout: { attemptDurationSeconds: j.timeoutSeconds } } : {}),
    tags: j.tags,
    propagateTags: false,
    platformCapabilities: ['EC2'],
  };
}
