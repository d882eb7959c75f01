import type { ContainerCreateOptions } from 'dockerode';
import { defaultEffectivePolicy } from '#libs/config';
import type { DispatchPayload } from '#libs/queue';
import { CONTAINER_JOB_DIR, jobDirEnvironment } from './job-data.js';

export interface ContainerSpecContext {
  workerId: string;
  networkMode: string;
  /** The job's directory on this machine, mounted at /gpubatch (checkpoints, the preemption notice). */
  jobDir?: string;
}

export const Labels = {
  jobId: 'gpubatch.job-id',
  attempt: 'gpubatch.attempt',
  workerId: 'gpubatch.worker-id',
  /** The dispatch's timeoutSeconds; absent without a timeout. Lets a restarted worker enforce it without Redis. */
  timeoutSeconds: 'gpubatch.timeout-seconds',
} as const;

/** What a container's labels say about its attempt: all a restarted worker needs to adopt it. */
export interface AttemptLabels {
  jobId: string;
  attempt: number;
  timeoutSeconds: number | null;
}

/** The attempt a container belongs to, or null when its labels are missing or malformed. */
export function readAttemptLabels(labels: Record<string, string> | null | undefined): AttemptLabels | null {
  const jobId = labels?.[Labels.jobId];
  const attempt = Number(labels?.[Labels.attempt]);
  const rawTimeout = labels?.[Labels.timeoutSeconds];
  const timeoutSeconds = rawTimeout === undefined ? null : Number(rawTimeout);
  if (!jobId || !/^[1-9][0-9]*$/.test(labels?.[Labels.attempt] ?? '') || !Number.isSafeInteger(attempt)) return null;
  if (timeoutSeconds !== null && (!/^[0-9]+$/.test(rawTimeout!) || !Number.isSafeInteger(timeoutSeconds))) return null;
  return { jobId, attempt, timeoutSeconds };
}

/** One name per attempt, so a second claim of the same attempt finds the first one's container. */
export function containerName(jobId: string, attempt: number): string {
  // Docker names allow [a-zA-Z0-9_.-]: an array child's ':' becomes '_'.
  return `gpubatch-${jobId.replaceAll(':', '_')}-${attempt}`;
}

/** A multi-node job's node, in AWS Batch's names (the main node is always node 0 here). */
function awsNodeEnvironment(env: Record<string, string>): Record<string, string> {
  return {
    AWS_BATCH_JOB_NODE_INDEX: env.GPUBATCH_NODE_INDEX!,
    AWS_BATCH_JOB_NUM_NODES: env.GPUBATCH_NUM_NODES ?? '',
    AWS_BATCH_JOB_MAIN_NODE_INDEX: '0',
    AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS: env.GPUBATCH_MAIN_NODE_ADDR ?? '',
  };
}

/** The Docker create request for one attempt: limits, environment, labels and GPU devices. */
export function containerSpec(payload: DispatchPayload, context: ContainerSpecContext): ContainerCreateOptions {
  const gpu = payload.gpuDevices.length > 0;
  const policy = payload.container ?? defaultEffectivePolicy(payload.resources.memoryMiB);
  const environment: Record<string, string> = {
    ...payload.environment,
    ...payload.secretEnvironment,
    GPUBATCH_JOB_ID: payload.jobId,
    GPUBATCH_JOB_NAME: payload.jobName,
    GPUBATCH_JOB_ATTEMPT: String(payload.attempt),
    GPUBATCH_JOB_QUEUE: payload.queue,
    // AWS Batch's names for the same facts, so jobs written for AWS Batch run unchanged.
    AWS_BATCH_JOB_ID: payload.jobId,
    AWS_BATCH_JOB_ATTEMPT: String(payload.attempt),
    AWS_BATCH_JQ_NAME: payload.queue,
    ...(payload.environment.GPUBATCH_ARRAY_INDEX !== undefined ? { AWS_BATCH_JOB_ARRAY_INDEX: payload.environment.GPUBATCH_ARRAY_INDEX } : {}),
    ...(payload.environment.GPUBATCH_NODE_INDEX !== undefined ? awsNodeEnvironment(payload.environment) : {}),
    GPUBATCH_RESTART_COUNT: String(payload.restartCount ?? 0),
    ...(context.jobDir ? jobDirEnvironment() : {}),
    // 'void' rather than unset: CUDA images set NVIDIA_VISIBLE_DEVICES=all, which
    // the nvidia runtime would honour and hand a CPU job every GPU on the host.
    NVIDIA_VISIBLE_DEVICES: gpu ? payload.gpuDevices.join(',') : 'void',
  };
  const memoryBytes = payload.resources.memoryMiB * 2 ** 20;
  const mounts = policy.mounts ?? [];
  // Host paths were re-checked on this worker (host-paths.ts) before the spec is made; named volumes are per project.
  const volumeMounts = mounts.flatMap((m) => (m.type === 'tmpfs' ? [] : [{ Type: m.type, Source: m.source, Target: m.target, ReadOnly: m.readOnly }]));
  const tmpfs: Record<string, string> = {
    // A read-only root still needs somewhere to write scratch files.
    ...(policy.readonlyRootfs ? { '/tmp': 'rw,nosuid,nodev,size=1g' } : {}),
    ...Object.fromEntries(mounts.flatMap((m) => (m.type === 'tmpfs' ? [[m.target, `rw,nosuid,nodev,size=${m.sizeBytes}`]] : []))),
  };
  return {
    name: containerName(payload.jobId, payload.attempt),
    Image: payload.image,
    ...(policy.user !== null ? { User: policy.user } : {}),
    ...(payload.command.length > 0 ? { Cmd: payload.command } : {}),
    Env: Object.entries(environment).map(([key, value]) => `${key}=${value}`),
    Labels: {
      [Labels.jobId]: payload.jobId,
      [Labels.attempt]: String(payload.attempt),
      [Labels.workerId]: context.workerId,
      ...(payload.timeoutSeconds === null || payload.timeoutSeconds === undefined ? {} : { [Labels.timeoutSeconds]: String(payload.timeoutSeconds) }),
    },
    HostConfig: {
      // Docker's init as PID 1 passes SIGTERM on: a shell or a program that ignores signals as PID 1 would sit out the grace.
      Init: true,
      NanoCpus: Math.round(payload.resources.vcpus * 1e9),
      Memory: memoryBytes,
      // Equal to Memory: no swap beyond the limit, so the limit is what gets billed and enforced.
      MemorySwap: memoryBytes,
      NetworkMode: payload.networkMode === 'host' ? 'host' : context.networkMode,
      ...(context.jobDir ? { Binds: [`${context.jobDir}:${CONTAINER_JOB_DIR}:rw`] } : {}),
      // Hardening (docs/containers-and-secrets.md): no capabilities but those the pool allows and the job asked for,
      // no privilege gain through setuid binaries, bounded processes, files and log. Never Privileged, never the
      // host's PID or IPC namespace, never devices but the GPUs below: job input cannot ask for them.
      Privileged: false,
      CapDrop: ['ALL'],
      ...(policy.capAdd.length > 0 ? { CapAdd: policy.capAdd } : {}),
      SecurityOpt: ['no-new-privileges:true'],
      PidsLimit: policy.pidsLimit,
      Ulimits: [{ Name: 'nofile', Soft: policy.nofileLimit, Hard: policy.nofileLimit }],
      ShmSize: policy.shmSizeBytes,
      ReadonlyRootfs: policy.readonlyRootfs,
      ...(Object.keys(tmpfs).length > 0 ? { Tmpfs: tmpfs } : {}),
      ...(volumeMounts.length > 0 ? { Mounts: volumeMounts } : {}),
      // Two json-file segments of half the cap each: the container's own log never holds more than logMaxBytes.
      LogConfig: { Type: 'json-file', Config: { 'max-size': String(Math.max(1024, Math.floor(policy.logMaxBytes / 2))), 'max-file': '2' } },
      ...(gpu
        ? {
            // Never with Count: the daemon rejects Count and DeviceIDs together.
            DeviceRequests: [{ Driver: 'nvidia', DeviceIDs: payload.gpuDevices.map(String), Capabilities: [['gpu']] }],
          }
        : {}),
    },
  };
}
