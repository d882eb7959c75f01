import { DEFAULT_POOL_POLICY, effectivePolicy, imageRegistry, isNonRootUser, NOBODY_USER, policyViolations, registryAllowed } from './container-policy.js';

const pool = (over: Partial<typeof DEFAULT_POOL_POLICY> = {}) => ({ name: 'p', policy: { ...DEFAULT_POOL_POLICY, ...over } });

describe('container policy', () => {
  it('clamps requests to the pool: never looser than its policy', () => {
    const policy = { ...DEFAULT_POOL_POLICY, maxShmMiB: 256, allowedCapabilities: ['SYS_PTRACE'], allowRootUser: false, requireReadonlyRootFs: true };
    const e = effectivePolicy(policy, { memoryMiB: 4096, container: { shmSizeMiB: 100_000, linuxCapabilities: ['SYS_PTRACE', 'NET_RAW'], user: 'root' } });
    expect(e.shmSizeBytes).toBe(256 * 2 ** 20);
    expect(e.capAdd).toEqual(['SYS_PTRACE']);
    expect(e.user).toBe(NOBODY_USER);
    expect(e.readonlyRootfs).toBe(true);
    expect(e.pidsLimit).toBe(4096);
  });

  it('gives the defaults: 64 MiB shm (at most the job memory), the image user, no capabilities', () => {
    expect(effectivePolicy(DEFAULT_POOL_POLICY, { memoryMiB: 32, container: {} })).toMatchObject({
      shmSizeBytes: 32 * 2 ** 20, user: null, capAdd: [], readonlyRootfs: false,
    });
  });

  it('names the field a request breaks', () => {
    const job = (container: object, image = 'busybox') => ({ image, memoryMiB: 1024, container });
    expect(policyViolations(pool({ maxShmMiB: 128 }), job({ shmSizeMiB: 512 }))[0]).toMatchObject({ field: 'shmSizeMiB', message: expect.stringContaining('at most 128') });
    expect(policyViolations(pool(), job({ shmSizeMiB: 2048 }))[0].field).toBe('shmSizeMiB');
    expect(policyViolations(pool({ allowRootUser: false }), job({ user: '0' }))[0].field).toBe('user');
    expect(policyViolations(pool({ allowRootUser: false }), job({ user: 'app' }))[0].field).toBe('user');
    expect(policyViolations(pool({ allowRootUser: false }), job({}))[0].field).toBe('user');
    expect(policyViolations(pool({ allowRootUser: false }), job({ user: '1000:1000' }))).toEqual([]);
    expect(policyViolations(pool(), job({ linuxCapabilities: ['NET_RAW'] }))[0].field).toBe('linuxCapabilities');
    expect(policyViolations(pool({ allowedRegistries: ['registry.example.com'] }), job({}, 'busybox'))[0].field).toBe('image');
    expect(policyViolations(pool({ allowedRegistries: ['registry.example.com'] }), job({}, 'registry.example.com/team/x:1'))).toEqual([]);
  });

  it('reads registries and users as Docker does', () => {
    expect(imageRegistry('busybox')).toBe('docker.io');
    expect(imageRegistry('library/busybox:1')).toBe('docker.io');
    expect(imageRegistry('ghcr.io/a/b')).toBe('ghcr.io');
    expect(imageRegistry('localhost:5000/a')).toBe('localhost:5000');
    expect(registryAllowed('busybox', null)).toBe(true);
    expect(registryAllowed('busybox', [])).toBe(false);
    expect(isNonRootUser('1000')).toBe(true);
    expect(isNonRootUser('1000:0')).toBe(false);
    expect(isNonRootUser('0:1000')).toBe(false);
    expect(isNonRootUser('nobody')).toBe(false);
  });
});
