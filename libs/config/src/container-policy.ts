import { effectiveMounts, isUnder, type EffectiveMount, type MountRequest } from './mounts.js';

/**
 * Container hardening: what a pool allows (set by admins), what a job
 * definition asks for, and the effective settings a worker applies. Pure:
 * shared by the API (which rejects requests beyond the policy) and the
 * scheduler (which computes the effective settings at placement, clamping
 * again in case the policy tightened after submit). Job input never loosens it.
 */

/** A pool's container policy. */
export interface PoolContainerPolicy {
  pidsLimit: number;
  nofileLimit: number;
  logMaxBytes: number;
  allowedCapabilities: string[];
  maxShmMiB: number;
  allowRootUser: boolean;
  requireReadonlyRootFs: boolean;
  /** Registries images may come from; null = any. */
  allowedRegistries: string[] | null;
  /** Host directories (absolute, normalized) under which jobs may mount host paths; empty: none. */
  allowedHostPaths: string[];
  /** Multi-node (gang) jobs may run here: their containers use the host network (docs/multi-node.md). */
  allowMultiNode: boolean;
}

/** The defaults of a pool (the migration's column defaults): also what a pool without a row gets. */
export const DEFAULT_POOL_POLICY: PoolContainerPolicy = {
  pidsLimit: 4096,
  nofileLimit: 16384,
  logMaxBytes: 100 * 2 ** 20,
  allowedCapabilities: [],
  maxShmMiB: 8192,
  allowRootUser: true,
  requireReadonlyRootFs: false,
  allowedRegistries: null,
  allowedHostPaths: [],
  allowMultiNode: false,
};

/** Docker's own /dev/shm size when a definition does not ask. */
export const DEFAULT_SHM_MIB = 64;
/** Who a container runs as when its pool forbids root and its definition names no user: nobody. */
export const NOBODY_USER = '65534:65534';

/** What a definition asks of its container. */
export interface ContainerRequest {
  shmSizeMiB?: number;
  user?: string;
  readonlyRootFilesystem?: boolean;
  linuxCapabilities?: string[];
  /** Host paths, named volumes and tmpfs (mounts.ts). */
  mounts?: MountRequest[];
  /** `always`: pull before every attempt; `if-not-present` (the default): only when the worker lacks the image. */
  pullPolicy?: PullPolicy;
}

export const PULL_POLICIES = ['always', 'if-not-present'] as const;
export type PullPolicy = (typeof PULL_POLICIES)[number];

/** The settings a worker applies to one attempt's container. */
export interface EffectiveContainerPolicy {
  pidsLimit: number;
  nofileLimit: number;
  logMaxBytes: number;
  capAdd: string[];
  shmSizeBytes: number;
  /** null: the image's user (allowed only where the pool allows root). */
  user: string | null;
  readonlyRootfs: boolean;
  allowedRegistries: string[] | null;
  /** Absent on dispatches from before mounts existed: none. */
  mounts?: EffectiveMount[];
  /** The pool's allowed host paths, which the worker checks each bind's real path against (symlinks). */
  allowedHostPaths?: string[];
  /** Absent: if-not-present. */
  pullPolicy?: PullPolicy;
}

/** Capabilities a pool may allow (Docker's names, without CAP_). Never SYS_ADMIN, SYS_MODULE and the like. */
export const GRANTABLE_CAPABILITIES = [
  'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'NET_BIND_SERVICE', 'NET_RAW',
  'SYS_CHROOT', 'MKNOD', 'AUDIT_WRITE', 'SETFCAP', 'SYS_PTRACE', 'SYS_NICE', 'IPC_LOCK', 'SYS_RESOURCE',
] as const;

export function normalizeCapability(name: string): string {
  return name.trim().toUpperCase().replace(/^CAP_/, '');
}

/** `uid`, `uid:gid`, `name` or `name:group`, as Docker's User takes it. */
export const USER_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?$/;

/**
 * True when the user is certainly not root: a numeric uid other than 0 (and a
 * numeric gid other than 0 when given). A name could map to uid 0 in the image.
 */
export function isNonRootUser(user: string): boolean {
  const [uid, gid] = user.split(':');
  return /^[0-9]+$/.test(uid) && Number(uid) !== 0 && (gid === undefined || (/^[0-9]+$/.test(gid) && Number(gid) !== 0));
}

/** The registry an image reference pulls from: `docker.io` for Docker Hub short names. */
export function imageRegistry(image: string): string {
  const slash = image.indexOf('/');
  if (slash < 0) return 'docker.io';
  const first = image.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first.toLowerCase() : 'docker.io';
}

export function registryAllowed(image: string, allowed: readonly string[] | null): boolean {
  if (allowed === null) return true;
  const registry = imageRegistry(image);
  return allowed.some((r) => r.toLowerCase() === registry);
}

/** A request beyond the policy: the field and the rule, for a 400. */
export interface PolicyViolation {
  field: string;
  message: string;
}

/** What in a job's request its pool does not allow; empty when it fits. `path` prefixes the field names. */
export function policyViolations(
  pool: { name: string; policy: PoolContainerPolicy },
  job: { image: string; memoryMiB: number; container: ContainerRequest },
  path = '',
): PolicyViolation[] {
  const { policy } = pool;
  const c = job.container;
  const out: PolicyViolation[] = [];
  if (c.shmSizeMiB !== undefined && c.shmSizeMiB > policy.maxShmMiB) {
    out.push({ field: `${path}shmSizeMiB`, message: `${path}shmSizeMiB must be at most ${policy.maxShmMiB} (the maxShmMiB of pool ${pool.name}), got ${c.shmSizeMiB}` });
  }
  if (c.shmSizeMiB !== undefined && c.shmSizeMiB > job.memoryMiB) {
    out.push({ field: `${path}shmSizeMiB`, message: `${path}shmSizeMiB must not exceed the job's memoryMiB (${job.memoryMiB}): /dev/shm counts against its memory` });
  }
  if (!policy.allowRootUser && (c.user === undefined || !isNonRootUser(c.user))) {
    out.push({
      field: `${path}user`,
      message: c.user === undefined
        ? `${path}user is required by pool ${pool.name}, which does not allow root: give a numeric uid[:gid] other than 0`
        : `${path}user must be a numeric uid[:gid] other than 0 in pool ${pool.name}, which does not allow root; got "${c.user}"`,
    });
  }
  const denied = (c.linuxCapabilities ?? []).map(normalizeCapability).filter((cap) => !policy.allowedCapabilities.includes(cap));
  if (denied.length) {
    out.push({ field: `${path}linuxCapabilities`, message: `${path}linuxCapabilities ${denied.join(', ')} not allowed by pool ${pool.name} (allowed: ${policy.allowedCapabilities.join(', ') || 'none'})` });
  }
  (c.mounts ?? []).forEach((m, i) => {
    if (m.type === 'host' && !policy.allowedHostPaths.some((prefix) => isUnder(m.source, prefix))) {
      out.push({
        field: `${path}mounts[${i}].source`,
        message: `${path}mounts[${i}].source ${m.source} is not under a host path pool ${pool.name} allows (allowed: ${policy.allowedHostPaths.join(', ') || 'none'})`,
      });
    }
    if (m.type === 'tmpfs' && m.sizeMiB > job.memoryMiB) {
      out.push({ field: `${path}mounts[${i}].sizeMiB`, message: `${path}mounts[${i}].sizeMiB must not exceed the job's memoryMiB (${job.memoryMiB}): tmpfs counts against its memory` });
    }
  });
  if (!registryAllowed(job.image, policy.allowedRegistries)) {
    out.push({ field: `${path}image`, message: `${path}image registry ${imageRegistry(job.image)} is not allowed by pool ${pool.name} (allowed: ${policy.allowedRegistries!.join(', ') || 'none'})` });
  }
  return out;
}

/**
 * The settings one attempt's container gets on a worker of this pool: the
 * job's requests, clamped to the policy. Never looser than the policy, even
 * when the policy tightened after the job was submitted.
 */
export function effectivePolicy(policy: PoolContainerPolicy, job: { memoryMiB: number; container: ContainerRequest; project?: string }): EffectiveContainerPolicy {
  const c = job.container;
  const shmMiB = Math.max(1, Math.min(c.shmSizeMiB ?? DEFAULT_SHM_MIB, policy.maxShmMiB, job.memoryMiB));
  let user: string | null = c.user ?? null;
  if (!policy.allowRootUser && (user === null || !isNonRootUser(user))) user = NOBODY_USER;
  return {
    pidsLimit: policy.pidsLimit,
    nofileLimit: policy.nofileLimit,
    logMaxBytes: policy.logMaxBytes,
    capAdd: [...new Set((c.linuxCapabilities ?? []).map(normalizeCapability))].filter((cap) => policy.allowedCapabilities.includes(cap)).sort(),
    shmSizeBytes: shmMiB * 2 ** 20,
    user,
    readonlyRootfs: policy.requireReadonlyRootFs || c.readonlyRootFilesystem === true,
    allowedRegistries: policy.allowedRegistries,
    // Host paths the policy no longer allows stay in: the worker then refuses the attempt rather than run it without them.
    mounts: effectiveMounts(c.mounts ?? [], job.project ?? 'default'),
    allowedHostPaths: policy.allowedHostPaths,
    pullPolicy: c.pullPolicy ?? 'if-not-present',
  };
}

/** The settings a worker uses for a dispatch that carries none (an entry from before this change): the defaults. */
export function defaultEffectivePolicy(memoryMiB: number): EffectiveContainerPolicy {
  return effectivePolicy(DEFAULT_POOL_POLICY, { memoryMiB, container: {} });
}

/** The name a registry password is sealed under (AES-GCM associated data): a sealed value moved to another row does not open. */
export function registryCredentialName(scope: 'project' | 'pool', owner: string, registry: string): string {
  return `registry:${scope}:${owner}:${registry}`;
}
