import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { effectivePolicy, DEFAULT_POOL_POLICY, type MountRequest } from '#libs/config';
import { hostPathRefusal } from './host-paths.js';

describe('host path re-check on the worker', () => {
  let root: string;
  let allowed: string;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'gpubatch-hostpaths-'));
    allowed = join(root, 'allowed');
    mkdirSync(join(allowed, 'sets'), { recursive: true });
    mkdirSync(join(root, 'secret'));
    writeFileSync(join(root, 'secret', 'key'), 'x');
    symlinkSync(join(root, 'secret'), join(allowed, 'escape'));
    symlinkSync(join(allowed, 'sets'), join(allowed, 'inside'));
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const policy = (source: string, allowedHostPaths = [allowed]) => effectivePolicy({ ...DEFAULT_POOL_POLICY, allowedHostPaths }, {
    memoryMiB: 64, container: { mounts: [{ type: 'host', source, target: '/in', readOnly: true } as MountRequest] },
  });

  it('lets through a path, or a symlink, that resolves inside an allowed prefix', async () => {
    expect(await hostPathRefusal(policy(join(allowed, 'sets')))).toBeNull();
    expect(await hostPathRefusal(policy(join(allowed, 'inside')))).toBeNull();
    expect(await hostPathRefusal(undefined)).toBeNull();
  });

  it('refuses a symlink that escapes, a path that does not exist, and a prefix the pool no longer allows', async () => {
    expect(await hostPathRefusal(policy(join(allowed, 'escape')))).toBe(
      `host path ${join(allowed, 'escape')} resolves to ${join(root, 'secret')}, outside the host paths this pool allows (a symlink escapes them)`);
    expect(await hostPathRefusal(policy(join(allowed, 'missing')))).toContain('does not exist on this worker');
    expect(await hostPathRefusal(policy(join(allowed, 'sets'), ['/elsewhere']))).toContain('is not under a host path this pool allows (allowed: /elsewhere)');
  });
});
