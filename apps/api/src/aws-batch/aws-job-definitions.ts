import { Inject, Injectable } from '@nestjs/common';
import type { MountRequest } from '#libs/config';
import type { JobDefinitionEntity } from '#libs/db';
import type { Caller } from '../auth/caller.js';
import { ApiError } from '../common/api-error.js';
import { RegisterJobDefinitionDto } from '../job-definitions/dto/register-job-definition.dto.js';
import { JobDefinitionsService } from '../job-definitions/job-definitions.service.js';
import { arnOf, nameFrom } from './arns.js';
import { AwsInput, validated } from './aws-input.js';
import { page } from './paging.js';

const NOT_HERE = 'gpubatch runs single-container jobs on its own workers (docs/aws-batch.md)';

/** AWS's resourceRequirements (VCPU, MEMORY in MiB, GPU) and the deprecated vcpus/memory, as gpubatch resources. */
export function resourcesFrom(container: AwsInput): { vcpus?: number; memoryMiB?: number; gpus?: number } {
  const out: { vcpus?: number; memoryMiB?: number; gpus?: number } = {};
  const vcpus = container.number('vcpus');
  const memory = container.number('memory');
  if (vcpus !== undefined) out.vcpus = vcpus;
  if (memory !== undefined) out.memoryMiB = memory;
  for (const r of container.objects('resourceRequirements', 10) ?? []) {
    const type = r.oneOf('type', ['VCPU', 'MEMORY', 'GPU'] as const, true);
    const raw = r.string('value', true);
    const value = Number(raw);
    if (!/^[0-9]+(\.[0-9]+)?$/.test(raw) || !Number.isFinite(value)) throw new ApiError('VALIDATION_FAILED', `resourceRequirements ${type} value must be a number, got "${raw}"`);
    if (type === 'VCPU') out.vcpus = value;
    else if (type === 'MEMORY') out.memoryMiB = value;
    else out.gpus = value;
  }
  return out;
}

/**
 * AWS's volumes + mountPoints and linuxParameters.tmpfs as gpubatch mounts:
 * a volume with host.sourcePath binds that host path, one without is a
 * named Docker volume of that name (kept across jobs, per project).
 */
export function mountsFrom(container: AwsInput): object[] {
  const volumes = new Map<string, string | undefined>();
  for (const v of container.objects('volumes', 16) ?? []) {
    v.refuse(['efsVolumeConfiguration', 's3filesVolumeConfiguration'], 'gpubatch mounts host paths and named Docker volumes only');
    volumes.set(v.string('name', true), v.object('host')?.string('sourcePath'));
  }
  const mounts: object[] = (container.objects('mountPoints', 16) ?? []).map((mp, i) => {
    const name = mp.string('sourceVolume', true);
    if (!volumes.has(name)) throw new ApiError('VALIDATION_FAILED', `containerProperties.mountPoints[${i}].sourceVolume ${name} names no entry of containerProperties.volumes`);
    const host = volumes.get(name);
    return { type: host !== undefined ? 'host' : 'volume', source: host ?? name, target: mp.string('containerPath', true), readOnly: mp.boolean('readOnly') ?? false };
  });
  for (const t of container.object('linuxParameters')?.objects('tmpfs', 16) ?? []) {
    mounts.push({ type: 'tmpfs', target: t.string('containerPath', true), sizeMiB: t.integer('size', 1, 1_048_576, true) });
  }
  return mounts;
}

/** gpubatch mounts in AWS's shape (host paths get volume names vol<i>). */
export function awsVolumes(mounts: MountRequest[] | undefined) {
  const volumes: { name: string; host?: { sourcePath: string } }[] = [];
  const mountPoints: { sourceVolume: string; containerPath: string; readOnly: boolean }[] = [];
  const tmpfs: { containerPath: string; size: number }[] = [];
  (mounts ?? []).forEach((m, i) => {
    if (m.type === 'tmpfs') {
      tmpfs.push({ containerPath: m.target, size: m.sizeMiB });
      return;
    }
    const name = m.type === 'host' ? `vol${i}` : m.source;
    if (!volumes.some((v) => v.name === name)) volumes.push({ name, ...(m.type === 'host' ? { host: { sourcePath: m.source } } : {}) });
    mountPoints.push({ sourceVolume: name, containerPath: m.target, readOnly: m.readOnly });
  });
  return { volumes, mountPoints, tmpfs };
}

/** AWS's container fields gpubatch keeps in its container request, as AWS returns them. */
export function awsContainerExtras(c: { user?: string; readonlyRootFilesystem?: boolean; shmSizeMiB?: number; mounts?: MountRequest[] }) {
  const { volumes, mountPoints, tmpfs } = awsVolumes(c.mounts);
  const linux = { ...(c.shmSizeMiB !== undefined ? { sharedMemorySize: c.shmSizeMiB } : {}), ...(tmpfs.length ? { tmpfs } : {}) };
  return {
    ...(c.user !== undefined ? { user: c.user } : {}),
    ...(c.readonlyRootFilesystem !== undefined ? { readonlyRootFilesystem: c.readonlyRootFilesystem } : {}),
    ...(Object.keys(linux).length ? { linuxParameters: linux } : {}),
    volumes,
    mountPoints,
  };
}

/** evaluateOnExit and attempts, in gpubatch's retryStrategy shape (its own rules check them). */
export function retryStrategyFrom(input: AwsInput | undefined): { attempts: number; evaluateOnExit?: object[] } | undefined {
  if (!input) return undefined;
  const rules = input.objects('evaluateOnExit', 5)?.map((r) => ({
    ...(r.has('onExitCode') ? { onExitCode: r.string('onExitCode') } : {}),
    ...(r.has('onReason') ? { onReason: r.string('onReason') } : {}),
    ...(r.has('onStatusReason') ? { onStatusReason: r.string('onStatusReason') } : {}),
    action: r.string('action', true),
  }));
  return { attempts: input.integer('attempts', 1, 10) ?? 1, ...(rules ? { evaluateOnExit: rules } : {}) };
}

/** RegisterJobDefinition, DescribeJobDefinitions, DeregisterJobDefinition over gpubatch's job definitions. */
@Injectable()
export class AwsJobDefinitions {
  constructor(@Inject(JobDefinitionsService) private readonly definitions: JobDefinitionsService) {}

  async register(body: AwsInput, caller: Caller) {
    requireSubmit(caller);
    const type = body.oneOf('type', ['container', 'multinode'] as const, true);
    if (type === 'multinode') throw new ApiError('VALIDATION_FAILED', `type multinode is not supported: ${NOT_HERE}`);
    body.refuse(['nodeProperties', 'eksProperties', 'ecsProperties'], NOT_HERE);
    const container = body.object('containerProperties');
    if (!container) throw new ApiError('VALIDATION_FAILED', 'containerProperties is required for a container job definition');
    const dto = await validated(RegisterJobDefinitionDto, this.registration(body, container), 'RegisterJobDefinition');
    const d = await this.definitions.register(dto);
    return { jobDefinitionName: d.name, jobDefinitionArn: arnOf.jobDefinition(d.name, d.revision), revision: d.revision };
  }

  /** The gpubatch registration body an AWS RegisterJobDefinition maps to. */
  private registration(body: AwsInput, container: AwsInput): Record<string, unknown> {
    if (container.boolean('privileged')) throw new ApiError('VALIDATION_FAILED', 'containerProperties.privileged is not supported: gpubatch never runs privileged containers');
    container.refuse(['secrets'], 'gpubatch cannot read AWS Secrets Manager or SSM; register secretEnvironment through the REST API instead');
    const resources = resourcesFrom(container);
    if (resources.vcpus === undefined) throw new ApiError('VALIDATION_FAILED', 'containerProperties.resourceRequirements needs a VCPU entry (or containerProperties.vcpus)');
    if (resources.memoryMiB === undefined) throw new ApiError('VALIDATION_FAILED', 'containerProperties.resourceRequirements needs a MEMORY entry in MiB (or containerProperties.memory)');
    const linux = container.object('linuxParameters');
    const timeout = body.object('timeout');
    const mounts = mountsFrom(container);
    return {
      name: body.string('jobDefinitionName', true),
      image: container.string('image', true),
      ...(container.has('command') ? { command: container.strings('command') } : {}),
      ...(container.has('environment') ? { environment: container.keyValuePairs('environment') } : {}),
      resources,
      ...(container.has('user') ? { user: container.string('user') } : {}),
      ...(container.has('readonlyRootFilesystem') ? { readonlyRootFilesystem: container.boolean('readonlyRootFilesystem') } : {}),
      ...(linux?.has('sharedMemorySize') ? { shmSizeMiB: linux.integer('sharedMemorySize', 1, 1_048_576) } : {}),
      ...(mounts.length ? { mounts } : {}),
      ...(timeout?.has('attemptDurationSeconds') ? { timeoutSeconds: timeout.integer('attemptDurationSeconds', 1, 14 * 24 * 3600) } : {}),
      ...(body.has('retryStrategy') ? { retryStrategy: retryStrategyFrom(body.object('retryStrategy')) } : {}),
      ...(body.has('parameters') ? { parameters: body.map('parameters') } : {}),
      ...(body.has('tags') ? { tags: body.map('tags') } : {}),
    };
  }

  async describe(body: AwsInput) {
    const wanted = body.strings('jobDefinitions', 100);
    const name = body.string('jobDefinitionName');
    const status = body.oneOf('status', ['ACTIVE', 'INACTIVE'] as const);
    let found: JobDefinitionEntity[];
    if (wanted?.length) {
      found = [];
      for (const ref of wanted) {
        const [n, revision] = splitRef(nameFrom(ref, 'job-definition', 'jobDefinitions'));
        const list = revision === undefined ? await this.definitions.list(n) : await this.definitions.resolve(n, revision).then((d) => [d], () => []);
        found.push(...list);
      }
    } else {
      found = await this.definitions.list(name);
    }
    if (status) found = found.filter((d) => d.status === status);
    const paged = page(found, body.integer('maxResults', 1, 100), body.string('nextToken'));
    return { jobDefinitions: paged.items.map(awsJobDefinition), ...(paged.nextToken ? { nextToken: paged.nextToken } : {}) };
  }

  async deregister(body: AwsInput, caller: Caller) {
    requireSubmit(caller);
    const [name, revision] = splitRef(nameFrom(body.string('jobDefinition', true), 'job-definition', 'jobDefinition'));
    if (revision === undefined) throw new ApiError('VALIDATION_FAILED', 'jobDefinition must be name:revision or a job definition ARN');
    await this.definitions.deregister(name, revision);
    return {};
  }
}

function requireSubmit(caller: Caller): void {
  if (!caller.canSomewhere('submit')) throw new ApiError('FORBIDDEN', `this needs the submit right, which ${caller.id} does not hold`);
}

/** `name` or `name:revision` (revision a positive integer). */
export function splitRef(ref: string): [string, number | undefined] {
  const m = /^([A-Za-z0-9_-]{1,128})(?::([1-9][0-9]{0,8}))?$/.exec(ref);
  if (!m) throw new ApiError('VALIDATION_FAILED', `job definition "${ref.slice(0, 200)}" must be name, name:revision or a job definition ARN`);
  return [m[1]!, m[2] ? Number(m[2]) : undefined];
}

/** gpubatch's resources as AWS resourceRequirements. */
export function resourceRequirements(r: { vcpus: number; memoryMiB: number; gpus: number }) {
  return [
    { type: 'VCPU', value: String(r.vcpus) },
    { type: 'MEMORY', value: String(r.memoryMiB) },
    ...(r.gpus > 0 ? [{ type: 'GPU', value: String(r.gpus) }] : []),
  ];
}

export function keyValuePairs(map: Record<string, string>) {
  return Object.entries(map).map(([name, value]) => ({ name, value }));
}

export function awsJobDefinition(d: JobDefinitionEntity) {
  const c = d.container ?? {};
  return {
    jobDefinitionName: d.name,
    jobDefinitionArn: arnOf.jobDefinition(d.name, d.revision),
    revision: d.revision,
    status: d.status,
    type: 'container',
    parameters: d.parameters,
    retryStrategy: { attempts: d.retryAttempts, evaluateOnExit: d.retryRules },
    containerProperties: {
      image: d.image,
      command: d.command,
      environment: keyValuePairs(d.environment),
      resourceRequirements: resourceRequirements({ vcpus: Number(d.vcpus), memoryMiB: d.memoryMiB, gpus: d.gpus }),
      ...awsContainerExtras(c),
    },
    ...(d.timeoutSeconds !== null ? { timeout: { attemptDurationSeconds: d.timeoutSeconds } } : {}),
    tags: d.tags,
    propagateTags: false,
    platformCapabilities: ['EC2'],
    containerOrchestrationType: 'ECS',
  };
}
