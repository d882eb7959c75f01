import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { JOB_STATUSES } from '#libs/core';
import type { Caller } from '../auth/caller.js';
import { ProjectAccess } from '../auth/project-access.js';
import { ApiError } from '../common/api-error.js';
import type { JobDetailView } from '../jobs/dto/job.view.js';
import { StopJobDto } from '../jobs/dto/stop-job.dto.js';
import { SubmitJobDto } from '../jobs/dto/submit-job.dto.js';
import { JobStopService } from '../jobs/job-stop.service.js';
import { JobsService, type JobListFilters } from '../jobs/jobs.service.js';
import { arnOf, nameFrom } from './arns.js';
import { awsContainerExtras, keyValuePairs, resourceRequirements, resourcesFrom, retryStrategyFrom, splitRef } from './aws-job-definitions.js';
import { AwsInput, validated } from './aws-input.js';
import { checkTags } from './aws-tags.js';

const ms = (iso: string | null | undefined): number | undefined => (iso ? new Date(iso).getTime() : undefined);
const NOT_HERE = 'gpubatch runs single-container jobs on its own workers (docs/aws-batch.md)';

/** SubmitJob, DescribeJobs, ListJobs, CancelJob, TerminateJob over gpubatch's jobs. */
@Injectable()
export class AwsJobs {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(JobsService) private readonly jobs: JobsService,
    @Inject(JobStopService) private readonly stopper: JobStopService,
    @Inject(ProjectAccess) private readonly access: ProjectAccess,
  ) {}

  async submit(body: AwsInput, caller: Caller) {
    body.refuse(['nodeOverrides', 'eksPropertiesOverride', 'ecsPropertiesOverride', 'consumableResourcePropertiesOverride'], NOT_HERE);
    const dto = await validated(SubmitJobDto, this.submission(body), 'SubmitJob');
    this.access.submit(caller, dto.project);
    const created = await this.jobs.submit(dto);
    return { jobArn: arnOf.job(created.jobId), jobName: created.name, jobId: created.jobId };
  }

  /** The gpubatch submit body an AWS SubmitJob maps to. */
  private submission(body: AwsInput): Record<string, unknown> {
    const overrides = body.object('containerOverrides');
    const resources = overrides ? resourcesFrom(overrides) : {};
    const timeout = body.object('timeout');
    const size = body.object('arrayProperties')?.integer('size', 0, 1_000_000);
    const dependsOn = body.objects('dependsOn', 100)?.map((d) => ({
      ...(d.has('jobId') ? { jobId: nameFrom(d.string('jobId')!, 'job', 'dependsOn.jobId') } : {}),
      ...(d.has('type') ? { type: d.oneOf('type', ['N_TO_N', 'SEQUENTIAL'] as const) } : {}),
    }));
    const override = {
      ...(overrides?.has('command') ? { command: overrides.strings('command') } : {}),
      ...(overrides?.has('environment') ? { environment: overrides.keyValuePairs('environment') } : {}),
      ...(Object.keys(resources).length ? { resources } : {}),
    };
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
      const id = nameFrom(ref, 'job', 'jobs');
      if (!(await this.visible(caller, id))) continue;
      out.push(awsJobDetail(await this.jobs.describe(id)));
    }
    return { jobs: out };
  }

  /**
   * ListJobs as AWS answers it: RUNNING jobs when no status is given, every
   * status when filters are given; nextToken pages newest first.
   */
  async list(body: AwsInput, caller: Caller) {
    if (body.has('multiNodeJobId')) throw new ApiError('VALIDATION_FAILED', `multiNodeJobId is not supported: ${NOT_HERE}`);
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

const ALL_STATUSES = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0]));

/** gpubatch's job detail in AWS's JobDetail shape. */
export function awsJobDetail(j: JobDetailView) {
  const [defName, defRevision] = j.definition.split(':');
  const last = j.attempts.at(-1);
  const c = j.containerProperties as Parameters<typeof awsContainerExtras>[0];
  const array = j.arrayProperties;
  return {
    jobArn: arnOf.job(j.jobId),
    jobName: j.name,
    jobId: j.jobId,
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
    container: {
      image: j.image,
      command: j.command,
      environment: keyValuePairs(j.environment),
      resourceRequirements: resourceRequirements(j.resources),
      ...awsContainerExtras(c),
      ...(last?.exitCode !== null && last?.exitCode !== undefined ? { exitCode: last.exitCode } : {}),
      ...(last?.reason ? { reason: last.reason } : {}),
      ...(last ? { logStreamName: `${j.jobId}/${last.attempt}` } : {}),
    },
    ...(array && 'size' in array ? { arrayProperties: { size: array.size, statusSummary: { ...ALL_STATUSES, ...array.statusSummary } } } : {}),
    ...(array && 'index' in array ? { arrayProperties: { index: array.index } } : {}),
    ...(j.timeoutSeconds !== null ? { timeout: { attemptDurationSeconds: j.timeoutSeconds } } : {}),
    tags: j.tags,
    propagateTags: false,
    platformCapabilities: ['EC2'],
  };
}
