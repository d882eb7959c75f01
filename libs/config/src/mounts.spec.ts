import { DEFAULT_POOL_POLICY, effectivePolicy, policyViolations } from './container-policy.js';
import { checkAbsolutePath, dockerVolumeName, isUnder, mountProblems, normalizeMounts, type MountRequest } from './mounts.js';

describe('mounts', () => {
  it('takes absolute paths in one spelling and refuses . and .. segments rather than resolving them', () => {
    expect(checkAbsolutePath('/data//sets/')).toEqual({ path: '/data/sets' });
    expect(checkAbsolutePath('data/sets')).toEqual({ problem: 'must be an absolute path' });
    expect(checkAbsolutePath('/data/../etc')).toEqual({ problem: 'must not contain ".." segments' });
    expect(checkAbsolutePath('/data/./x')).toEqual({ problem: 'must not contain "." segments' });
    expect(checkAbsolutePath('/data/\u0000x')).toHaveProperty('problem');
  });

  it('counts a path as under a prefix only at a segment boundary', () => {
    expect(isUnder('/data/sets/a', '/data/sets')).toBe(true);
    expect(isUnder('/data/sets', '/data/sets')).toBe(true);
    expect(isUnder('/data/sets2', '/data/sets')).toBe(false);
    expect(isUnder('/etc', '/')).toBe(true);
  });

  it('names each malformed mount field', () => {
    const mounts: MountRequest[] = [
      { type: 'host', source: '/data/../etc', target: '/in', readOnly: true },
      { type: 'volume', source: 'bad.name', target: '/in', readOnly: false },
      { type: 'tmpfs', target: '/proc/x', sizeMiB: 1 },
      { type: 'volume', source: 'ok', target: 'relative', readOnly: false },
    ];
    expect(mountProblems(mounts)).toEqual([
      'mounts[0].source must not contain ".." segments',
      'mounts[1].target /in is mounted twice',
      'mounts[1].source must be a volume name: 1-64 letters, digits, _ or -, starting with a letter or digit',
      'mounts[2].target must not be /, /proc, /sys or /dev (or under them)',
      'mounts[3].target must be an absolute path',
    ]);
    expect(normalizeMounts([{ type: 'host', source: '/data//x/', target: '/in/', readOnly: true }])).toEqual([{ type: 'host', source: '/data/x', target: '/in', readOnly: true }]);
  });

  it("allows host paths only under the pool's prefixes, and tmpfs only within the job's memory", () => {
    const pool = { name: 'p', policy: { ...DEFAULT_POOL_POLICY, allowedHostPaths: ['/data/sets'] } };
    const job = (mounts: MountRequest[]) => ({ image: 'busybox', memoryMiB: 256, container: { mounts } });
    expect(policyViolations(pool, job([{ type: 'host', source: '/data/sets/imagenet', target: '/in', readOnly: true }]))).toEqual([]);
    expect(policyViolations(pool, job([{ type: 'host', source: '/data/sets2', target: '/in', readOnly: true }]))[0]).toMatchObject({
      field: 'mounts[0].source', message: 'mounts[0].source /data/sets2 is not under a host path pool p allows (allowed: /data/sets)',
    });
    expect(policyViolations({ name: 'd', policy: DEFAULT_POOL_POLICY }, job([{ type: 'host', source: '/data/sets', target: '/in', readOnly: true }]))[0].message)
      .toContain('(allowed: none)');
    expect(policyViolations(pool, job([{ type: 'tmpfs', target: '/scratch', sizeMiB: 512 }]))[0].field).toBe('mounts[0].sizeMiB');
    expect(policyViolations(pool, job([{ type: 'volume', source: 'cache', target: '/cache', readOnly: false }]))).toEqual([]);
  });

  it('resolves named volumes per project and passes the allowed prefixes on for the worker to re-check', () => {
    const e = effectivePolicy({ ...DEFAULT_POOL_POLICY, allowedHostPaths: ['/data'] }, {
      memoryMiB: 256, project: 'vision',
      container: { mounts: [
        { type: 'volume', source: 'cache', target: '/cache', readOnly: false },
        { type: 'host', source: '/data/x', target: '/in', readOnly: true },
        { type: 'tmpfs', target: '/scratch', sizeMiB: 16 },
      ] },
    });
    expect(e.mounts).toEqual([
      { type: 'volume', source: 'gpubatch.vision.cache', target: '/cache', readOnly: false },
      { type: 'bind', source: '/data/x', target: '/in', readOnly: true },
      { type: 'tmpfs', target: '/scratch', sizeBytes: 16 * 2 ** 20 },
    ]);
    expect(e.allowedHostPaths).toEqual(['/data']);
    expect(dockerVolumeName('default', 'cache')).toBe('gpubatch.default.cache');
  });
});
