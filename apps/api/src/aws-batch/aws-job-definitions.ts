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
import { checkTags } from './aws-tags.js';
import { nodeRange } from '../jobs/multi-node.js';
import { MAX_GANG_NODES, MIN_GANG_NODES } from '#libs/core';

const NOT_HERE = 'gpubatch runs Docker containers on its own workers, not ECS or EKS tasks (docs/aws-batch.md)';

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
    if (!volumes.has(name)) throw new ApiError('VALIDATION_FAILED', `${container.field(`mountPoints[${i}].sourceVolume`)} ${name} names no entry of ${container.field('volumes')}`);
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

/** How gpubatch's registration fields are called in an AWS container, for messages about ranges that differ. */
const AWS_CONTAINER_FIELD: Record<string, string> = {
  image: 'image', command: 'command', environment: 'environment', resources: 'resourceRequirements', user: 'user',
  readonlyRootFilesystem: 'readonlyRootFilesystem', shmSizeMiB: 'linuxParameters.sharedMemorySize', mounts: 'volumes/mountPoints/linuxParameters.tmpfs',
};

/** RegisterJobDefinition, DescribeJobDefinitions, DeregisterJobDefinition over gpubatch's job definitions. */
@Injectable()
export class AwsJobDefinitions {
  constructor(@Inject(JobDefinitionsService) private readonly definitions: JobDefinitionsService) {}

  async register(body: AwsInput, caller: Caller) {
    requireSubmit(caller);
    const type = body.oneOf('type', ['container', 'multinode'] as const, true);
    body.refuse(['eksProperties', 'ecsProperties'], NOT_HERE);
    let fields: Record<string, unknown>;
    if (type === 'multinode') {
      if (body.has('containerProperties')) {
        throw new ApiError('VALIDATION_FAILED', 'containerProperties must be absent with type multinode: give the container in nodeProperties.nodeRangeProperties[].container');
      }
      fields = multiNodeFields(body);
    } else {
      if (body.has('nodeProperties')) throw new ApiError('VALIDATION_FAILED', 'nodeProperties needs type multinode (type is container)');
      const container = body.object('containerProperties');
      if (!container) throw new ApiError('VALIDATION_FAILED', 'containerProperties is required for a container job definition');
      fields = containerFields(container);
    }
    const dto = await validated(RegisterJobDefinitionDto, { ...fields, ...definitionFields(body) }, 'RegisterJobDefinition');
    const d = await this.definitions.register(dto);
    return { jobDefinitionName: d.name, jobDefinitionArn: arnOf.jobDefinition(d.name, d.revision), revision: d.revision };
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

/** The registration fields of an AWS container (containerProperties, or a node range's container). */
function containerFields(container: AwsInput): Record<string, unknown> {
  if (container.boolean('privileged')) throw new ApiError('VALIDATION_FAILED', `${container.field('privileged')} is not supported: gpubatch never runs privileged containers`);
  container.refuse(['secrets'], 'gpubatch cannot read AWS Secrets Manager or SSM; register secretEnvironment through the REST API instead');
  const resources = resourcesFrom(container);
  if (resources.vcpus === undefined) throw new ApiError('VALIDATION_FAILED', `${container.field('resourceRequirements')} needs a VCPU entry (or ${container.field('vcpus')})`);
  if (resources.memoryMiB === undefined) throw new ApiError('VALIDATION_FAILED', `${container.field('resourceRequirements')} needs a MEMORY entry in MiB (or ${container.field('memory')})`);
  const linux = container.object('linuxParameters');
  const mounts = mountsFrom(container);
  return {
    image: container.string('image', true),
    ...(container.has('command') ? { command: container.strings('command') } : {}),
    ...(container.has('environment') ? { environment: container.keyValuePairs('environment') } : {}),
    resources,
    ...(container.has('user') ? { user: container.string('user') } : {}),
    ...(container.has('readonlyRootFilesystem') ? { readonlyRootFilesystem: container.boolean('readonlyRootFilesystem') } : {}),
    ...(linux?.has('sharedMemorySize') ? { shmSizeMiB: linux.integer('sharedMemorySize', 1, 1_048_576) } : {}),
    ...(mounts.length ? { mounts } : {}),
  };
}

/** The registration fields of a definition besides its container: name, timeout, retries, parameters, tags. */
function definitionFields(body: AwsInput): Record<string, unknown> {
  const timeout = body.object('timeout');
  return {
    name: body.string('jobDefinitionName', true),
    ...(timeout?.has('attemptDurationSeconds') ? { timeoutSeconds: timeout.integer('attemptDurationSeconds', 1, 14 * 24 * 3600) } : {}),
    ...(body.has('retryStrategy') ? { retryStrategy: retryStrategyFrom(body.object('retryStrategy')) } : {}),
    ...(body.has('parameters') ? { parameters: body.map('parameters') } : {}),
    ...(body.has('tags') ? { tags: checkTags(body.map('tags')!) } : {}),
  };
}

/**
 * A `multinode` definition's nodeProperties as gpubatch's container fields
 * plus `nodes`. gpubatch runs one container shape on every node, with node 0
 * as the main node: the ranges must cover every node once and, when there are
 * several, hold the same container; anything else is refused, naming the
 * range and the fields that differ.
 */
function multiNodeFields(body: AwsInput): Record<string, unknown> {
  const props = body.object('nodeProperties');
  if (!props) throw new ApiError('VALIDATION_FAILED', 'nodeProperties is required with type multinode');
  const numNodes = props.integer('numNodes', MIN_GANG_NODES, MAX_GANG_NODES, true)!;
  const mainNode = props.integer('mainNode', 0, numNodes - 1, true);
  if (mainNode !== 0) {
    throw new ApiError('VALIDATION_FAILED', `nodeProperties.mainNode ${mainNode} is not supported: gpubatch runs the main node as node 0 (give mainNode 0)`);
  }
  const ranges = props.objects('nodeRangeProperties', MAX_GANG_NODES);
  if (!ranges?.length) throw new ApiError('VALIDATION_FAILED', 'nodeProperties.nodeRangeProperties is required: at least one range of nodes with its container');
  const covered = new Array<boolean>(numNodes).fill(false);
  let first: Record<string, unknown> | undefined;
  ranges.forEach((range, i) => {
    const field = `nodeProperties.nodeRangeProperties[${i}]`;
    const [from, to] = nodeRange(range.string('targetNodes', true), numNodes, `${field}.targetNodes`);
    for (let n = from; n <= to; n++) {
      if (covered[n]) throw new ApiError('VALIDATION_FAILED', `${field}.targetNodes covers node ${n}, which an earlier range covers too`);
      covered[n] = true;
    }
    range.refuse(['eksProperties', 'ecsProperties', 'consumableResourceProperties'], NOT_HERE);
    const container = range.object('container');
    if (!container) throw new ApiError('VALIDATION_FAILED', `${field}.container is required`);
    const fields = containerFields(container);
    if (!first) {
      first = fields;
      return;
    }
    const differ = Object.keys({ ...first, ...fields }).filter((k) => JSON.stringify(first![k]) !== JSON.stringify(fields[k]));
    if (differ.length) {
      throw new ApiError('VALIDATION_FAILED',
        `${field}.container differs from nodeProperties.nodeRangeProperties[0].container in ${differ.map((k) => AWS_CONTAINER_FIELD[k] ?? k).join(', ')}: `
        + 'gpubatch runs the same container on every node of a job; give every range the same container, or one range "0:" for all nodes');
    }
  });
  const missing = covered.findIndex((c) => !c);
  if (missing >= 0) throw new ApiError('VALIDATION_FAILED', `nodeProperties.nodeRangeProperties covers no range for node ${missing} of ${numNodes}: every node needs a range`);
  return { ...first, nodes: { count: numNodes } };
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

/** One container for every node: what a multi-node definition or job has, in AWS's nodeProperties shape. */
export function awsNodeProperties(numNodes: number, container: object) {
  return { numNodes, mainNode: 0, nodeRangeProperties: [{ targetNodes: '0:', container }] };
}

export function awsJobDefinition(d: JobDefinitionEntity) {
  const container = {
    image: d.image,
    command: d.command,
    environment: keyValuePairs(d.environment),
    resourceRequirements: resourceRequirements({ vcpus: Number(d.vcpus), memoryMiB: d.memoryMiB, gpus: d.gpus }),
    ...awsContainerExtras(d.container ?? {}),
  };
  return {
    jobDefinitionName: d.name,
    jobDefinitionArn: arnOf.jobDefinition(d.name, d.revision),
    revision: d.revision,
    status: d.status,
    type: d.nodes ? 'multinode' : 'container',
    parameters: d.parameters,
    retryStrategy: { attempts: d.retryAttempts, evaluateOnExit: d.retryRules },
    ...(d.nodes ? { nodeProperties: awsNodeProperties(d.nodes.count, container) } : { containerProperties: container }),
    ...(d.timeoutSeconds !== null ? { timeout: { attemptDurationSeconds: d.timeoutSeconds } } : {}),
    tags: d.tags,
    propagateTags: false,
    platformCapabilities: ['EC2'],
    containerOrchestrationType: 'ECS',
  };
}
