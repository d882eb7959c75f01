import { realpath } from 'node:fs/promises';
import { isUnder, type EffectiveContainerPolicy } from '#libs/config';

/**
 * Why the attempt's host paths must not be mounted on this worker, or null
 * when they may. The API checked the paths as written; only the worker sees
 * its own filesystem, so here each path is resolved (symlinks followed) and
 * must still lie under a prefix its pool allows, itself resolved. Also
 * catches a policy tightened after the job was submitted.
 */
export async function hostPathRefusal(policy: EffectiveContainerPolicy | undefined, resolve: (p: string) => Promise<string> = realpath): Promise<string | null> {
  const binds = (policy?.mounts ?? []).filter((m) => m.type === 'bind');
  if (binds.length === 0) return null;
  const allowed = policy?.allowedHostPaths ?? [];
  const resolvedAllowed = (await Promise.all(allowed.map((p) => resolve(p).catch(() => null)))).filter((p): p is string => p !== null);
  for (const bind of binds) {
    if (!allowed.some((prefix) => isUnder(bind.source, prefix))) {
      return `host path ${bind.source} is not under a host path this pool allows (allowed: ${allowed.join(', ') || 'none'})`;
    }
    let real: string;
    try {
      real = await resolve(bind.source);
    } catch (error) {
      return `host path ${bind.source} cannot be mounted: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist on this worker' : (error as Error).message}`;
    }
    if (!resolvedAllowed.some((prefix) => isUnder(real, prefix))) {
      return `host path ${bind.source} resolves to ${real}, outside the host paths this pool allows (a symlink escapes them)`;
    }
  }
  return null;
}
