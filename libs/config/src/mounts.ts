/**
 * Volumes a job container may mount: host paths under the prefixes its pool
 * allows, named Docker volumes, and tmpfs. Pure: the API checks requests
 * with it (lexically: the API host is not the worker host), the scheduler
 * resolves what a worker mounts, and the worker re-checks host paths on its
 * own filesystem (symlinks) before it creates the container.
 */

/** What a definition asks to mount. */
export type MountRequest =
  | { type: 'host'; source: string; target: string; readOnly: boolean }
  | { type: 'volume'; source: string; target: string; readOnly: boolean }
  | { type: 'tmpfs'; target: string; sizeMiB: number };

export const MOUNT_TYPES = ['host', 'volume', 'tmpfs'] as const;
export const MAX_MOUNTS = 16;
/** A named volume: letters, digits, _ and - (no dot: the dot separates the project in Docker's name). */
export const VOLUME_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/**
 * An absolute path in its one spelling (no `.`/`..` segments, no doubled or
 * trailing slash), or why it is not acceptable. `..` is refused rather than
 * resolved: what it climbs out of is the worker's to know, not the API's.
 */
export function checkAbsolutePath(path: string): { path: string } | { problem: string } {
  if (typeof path !== 'string' || !path.startsWith('/')) return { problem: 'must be an absolute path' };
  if (path.length > 4096 || /[\u0000-\u001f]/.test(path)) return { problem: 'must be a path of at most 4096 printable characters' };
  const segments = path.split('/').filter((s) => s !== '');
  if (segments.includes('..')) return { problem: 'must not contain ".." segments' };
  if (segments.includes('.')) return { problem: 'must not contain "." segments' };
  return { path: `/${segments.join('/')}` };
}

/** True when `path` is `prefix` or inside it (both in checkAbsolutePath's spelling). */
export function isUnder(path: string, prefix: string): boolean {
  return prefix === '/' || path === prefix || path.startsWith(`${prefix}/`);
}

/** The Docker volume a job's named volume is: one namespace per project, so projects never share data through a name. */
export function dockerVolumeName(project: string, name: string): string {
  return `gpubatch.${project}.${name}`;
}

/** Container paths a mount must not cover: the ones Docker and the kernel own. */
const RESERVED_TARGETS = ['/proc', '/sys', '/dev'];

/** Problems with the mounts a definition asks for, each naming its field; empty when they are well formed. */
export function mountProblems(mounts: readonly MountRequest[], path = ''): string[] {
  const out: string[] = [];
  const targets = new Set<string>();
  mounts.forEach((m, i) => {
    const field = `${path}mounts[${i}]`;
    const target = checkAbsolutePath(m.target);
    if ('problem' in target) out.push(`${field}.target ${target.problem}`);
    else if (target.path === '/' || RESERVED_TARGETS.some((r) => isUnder(target.path, r))) out.push(`${field}.target must not be /, /proc, /sys or /dev (or under them)`);
    else if (targets.has(target.path)) out.push(`${field}.target ${target.path} is mounted twice`);
    else targets.add(target.path);
    if (m.type === 'host') {
      const source = checkAbsolutePath(m.source);
      if ('problem' in source) out.push(`${field}.source ${source.problem}`);
    } else if (m.type === 'volume') {
      if (!VOLUME_NAME_PATTERN.test(m.source)) out.push(`${field}.source must be a volume name: 1-64 letters, digits, _ or -, starting with a letter or digit`);
    }
  });
  return out;
}

/** The mounts in their one spelling (paths normalized), for storage; call after mountProblems found none. */
export function normalizeMounts(mounts: readonly MountRequest[]): MountRequest[] {
  const clean = (p: string) => {
    const r = checkAbsolutePath(p);
    return 'path' in r ? r.path : p;
  };
  return mounts.map((m) => (m.type === 'tmpfs' ? { ...m, target: clean(m.target) } : m.type === 'host'
    ? { ...m, source: clean(m.source), target: clean(m.target) } : { ...m, target: clean(m.target) }));
}

/** What a worker mounts for one attempt: Docker's names resolved. */
export type EffectiveMount =
  | { type: 'bind'; source: string; target: string; readOnly: boolean }
  | { type: 'volume'; source: string; target: string; readOnly: boolean }
  | { type: 'tmpfs'; target: string; sizeBytes: number };

export function effectiveMounts(mounts: readonly MountRequest[], project: string): EffectiveMount[] {
  return mounts.map((m) => (m.type === 'host' ? { type: 'bind', source: m.source, target: m.target, readOnly: m.readOnly }
    : m.type === 'volume' ? { type: 'volume', source: dockerVolumeName(project, m.source), target: m.target, readOnly: m.readOnly }
      : { type: 'tmpfs', target: m.target, sizeBytes: m.sizeMiB * 2 ** 20 }));
}
