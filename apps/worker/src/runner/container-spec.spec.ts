import { DEFAULT_POOL_POLICY, effectivePolicy } from '#libs/config';
import type { DispatchPayload } from '#libs/queue';
import { containerName, containerSpec, readAttemptLabels } from './container-spec.js';

const payload = (over: Partial<DispatchPayload> = {}): DispatchPayload => ({
  jobId: 'job-1',
  jobName: 'train',
  queue: 'gpu',
  attempt: 2,
  image: 'example/train:1',
  command: ['python', 'train.py'],
  environment: { LR: '0.1', GPUBATCH_JOB_ID: 'spoofed' },
  resources: { vcpus: 1.5, memoryMiB: 2048, gpus: 0 },
  gpuDevices: [],
  timeoutSeconds: null,
  ...over,
});

const context = { workerId: 'w1', networkMode: 'none' };

describe('containerSpec', () => {
  it('names the container after the attempt and labels it', () => {
    const spec = containerSpec(payload(), context);
    expect(spec.name).toBe(containerName('job-1', 2));
    expect(spec.name).toBe('gpubatch-job-1-2');
    expect(spec.Labels).toEqual({ 'gpubatch.job-id': 'job-1', 'gpubatch.attempt': '2', 'gpubatch.worker-id': 'w1' });
  });

  it('labels the timeout when there is one, and the labels read back as the attempt', () => {
    const spec = containerSpec(payload({ timeoutSeconds: 90 }), context);
    expect(spec.Labels!['gpubatch.timeout-seconds']).toBe('90');
    expect(readAttemptLabels(spec.Labels)).toEqual({ jobId: 'job-1', attempt: 2, timeoutSeconds: 90 });
    expect(readAttemptLabels(containerSpec(payload(), context).Labels)).toEqual({ jobId: 'job-1', attempt: 2, timeoutSeconds: null });
  });

  it('runs Docker init as PID 1 so SIGTERM reaches the job', () => {
    expect(containerSpec(payload(), context).HostConfig!.Init).toBe(true);
  });

  it('sets the limits: CPUs in nano-CPUs, memory in bytes, no swap beyond it', () => {
    const host = containerSpec(payload(), context).HostConfig!;
    expect(host.NanoCpus).toBe(1_500_000_000);
    expect(host.Memory).toBe(2048 * 2 ** 20);
    expect(host.MemorySwap).toBe(host.Memory);
    expect(host.NetworkMode).toBe('none');
    expect(host.DeviceRequests).toBeUndefined();
  });

  it('adds the GPUBATCH_ variables over the job environment', () => {
    const env = containerSpec(payload(), context).Env!;
    expect(env).toEqual(expect.arrayContaining([
      'LR=0.1', 'GPUBATCH_JOB_ID=job-1', 'GPUBATCH_JOB_NAME=train', 'GPUBATCH_JOB_ATTEMPT=2', 'GPUBATCH_JOB_QUEUE=gpu',
    ]));
    expect(env).not.toContain('GPUBATCH_JOB_ID=spoofed');
  });

  it("adds AWS Batch's variables too (AWS_BATCH_JOB_ID, _ATTEMPT, _JQ_NAME, and the array index for a child)", () => {
    expect(containerSpec(payload(), context).Env).toEqual(expect.arrayContaining(['AWS_BATCH_JOB_ID=job-1', 'AWS_BATCH_JOB_ATTEMPT=2', 'AWS_BATCH_JQ_NAME=gpu']));
    expect(containerSpec(payload(), context).Env!.some((e) => e.startsWith('AWS_BATCH_JOB_ARRAY_INDEX='))).toBe(false);
    const child = containerSpec(payload({ jobId: 'job-1:3', environment: { GPUBATCH_ARRAY_INDEX: '3' } }), context).Env!;
    expect(child).toEqual(expect.arrayContaining(['AWS_BATCH_JOB_ID=job-1:3', 'AWS_BATCH_JOB_ARRAY_INDEX=3']));
    expect(containerSpec(payload(), context).Env!.some((e) => e.startsWith('AWS_BATCH_JOB_NODE_INDEX='))).toBe(false);
    const node = containerSpec(payload({
      jobId: 'job-1:node1', environment: { GPUBATCH_NODE_INDEX: '1', GPUBATCH_NUM_NODES: '2', GPUBATCH_MAIN_NODE_ADDR: '10.0.0.5' },
    }), context).Env!;
    expect(node).toEqual(expect.arrayContaining([
      'AWS_BATCH_JOB_NODE_INDEX=1', 'AWS_BATCH_JOB_NUM_NODES=2', 'AWS_BATCH_JOB_MAIN_NODE_INDEX=0', 'AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS=10.0.0.5',
    ]));
  });

  it('mounts host paths, per-project named volumes and tmpfs as the policy resolved them', () => {
    const container = effectivePolicy({ ...DEFAULT_POOL_POLICY, allowedHostPaths: ['/data'], requireReadonlyRootFs: true }, {
      memoryMiB: 256, project: 'vision', container: { mounts: [
        { type: 'host', source: '/data/in', target: '/in', readOnly: true },
        { type: 'volume', source: 'cache', target: '/cache', readOnly: false },
        { type: 'tmpfs', target: '/scratch', sizeMiB: 8 },
      ] },
    });
    const host = containerSpec(payload({ container }), context).HostConfig!;
    expect(host.Mounts).toEqual([
      { Type: 'bind', Source: '/data/in', Target: '/in', ReadOnly: true },
      { Type: 'volume', Source: 'gpubatch.vision.cache', Target: '/cache', ReadOnly: false },
    ]);
    expect(host.Tmpfs).toEqual({ '/tmp': 'rw,nosuid,nodev,size=1g', '/scratch': `rw,nosuid,nodev,size=${8 * 2 ** 20}` });
    expect(containerSpec(payload(), context).HostConfig!.Mounts).toBeUndefined();
  });

  it('passes the assigned GPUs as a device request without Count', () => {
    const spec = containerSpec(payload({ gpuDevices: [0, 2] }), context);
    expect(spec.HostConfig!.DeviceRequests).toEqual([{ Driver: 'nvidia', DeviceIDs: ['0', '2'], Capabilities: [['gpu']] }]);
    expect(spec.Env).toContain('NVIDIA_VISIBLE_DEVICES=0,2');
  });

  it('hides every GPU from a CPU job, whatever its image or environment says', () => {
    const spec = containerSpec(payload({ environment: { NVIDIA_VISIBLE_DEVICES: 'all' } }), context);
    expect(spec.Env).toContain('NVIDIA_VISIBLE_DEVICES=void');
    expect(spec.Env).not.toContain('NVIDIA_VISIBLE_DEVICES=all');
  });

  it('leaves Cmd out when the command is empty, so the image default runs', () => {
    expect(containerSpec(payload({ command: [] }), context)).not.toHaveProperty('Cmd');
    expect(containerSpec(payload(), context).Cmd).toEqual(['python', 'train.py']);
  });
});

describe('readAttemptLabels', () => {
  const good = { 'gpubatch.job-id': 'j:3', 'gpubatch.attempt': '1', 'gpubatch.worker-id': 'w1' };

  it.each([
    ['no labels', null],
    ['no job id', { ...good, 'gpubatch.job-id': '' }],
    ['no attempt', { 'gpubatch.job-id': 'j' }],
    ['attempt 0', { ...good, 'gpubatch.attempt': '0' }],
    ['attempt not a number', { ...good, 'gpubatch.attempt': 'x1' }],
    ['fractional attempt', { ...good, 'gpubatch.attempt': '1.5' }],
    ['negative timeout', { ...good, 'gpubatch.timeout-seconds': '-1' }],
    ['empty timeout', { ...good, 'gpubatch.timeout-seconds': '' }],
  ])('is null for %s', (_what, labels) => {
    expect(readAttemptLabels(labels as Record<string, string> | null)).toBeNull();
  });

  it('reads an array child with a timeout of 0', () => {
    expect(readAttemptLabels({ ...good, 'gpubatch.timeout-seconds': '0' })).toEqual({ jobId: 'j:3', attempt: 1, timeoutSeconds: 0 });
  });
});

describe('containerSpec hardening', () => {
  const policy = {
    pidsLimit: 256, nofileLimit: 1024, logMaxBytes: 4 * 2 ** 20, capAdd: ['SYS_PTRACE'], shmSizeBytes: 512 * 2 ** 20,
    user: '1000:1000', readonlyRootfs: true, allowedRegistries: null,
  };

  it('drops every capability, forbids privilege gain, and bounds pids, files, shm and its own log', () => {
    const spec = containerSpec(payload({ container: policy }), context);
    const host = spec.HostConfig!;
    expect(host.Privileged).toBe(false);
    expect(host.CapDrop).toEqual(['ALL']);
    expect(host.CapAdd).toEqual(['SYS_PTRACE']);
    expect(host.SecurityOpt).toEqual(['no-new-privileges:true']);
    expect(host.PidsLimit).toBe(256);
    expect(host.Ulimits).toEqual([{ Name: 'nofile', Soft: 1024, Hard: 1024 }]);
    expect(host.ShmSize).toBe(512 * 2 ** 20);
    expect(host.ReadonlyRootfs).toBe(true);
    expect(host.Tmpfs).toEqual({ '/tmp': 'rw,nosuid,nodev,size=1g' });
    expect(host.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': String(2 * 2 ** 20), 'max-file': '2' } });
    expect(spec.User).toBe('1000:1000');
  });

  it('applies the default policy to a dispatch that carries none: hardened all the same', () => {
    const spec = containerSpec(payload(), context);
    const host = spec.HostConfig!;
    expect(host.CapDrop).toEqual(['ALL']);
    expect(host.CapAdd).toBeUndefined();
    expect(host.SecurityOpt).toEqual(['no-new-privileges:true']);
    expect(host.PidsLimit).toBe(4096);
    expect(host.ShmSize).toBe(64 * 2 ** 20);
    expect(host.ReadonlyRootfs).toBe(false);
    expect(host.Tmpfs).toBeUndefined();
    expect(spec.User).toBeUndefined();
  });

  it('never asks for host namespaces or devices beyond the GPUs it was given', () => {
    const host = containerSpec(payload({ gpuDevices: [1], resources: { vcpus: 1, memoryMiB: 64, gpus: 1 } }), context).HostConfig!;
    expect(host.PidMode).toBeUndefined();
    expect(host.IpcMode).toBeUndefined();
    expect(host.Devices).toBeUndefined();
    expect(host.DeviceRequests).toEqual([{ Driver: 'nvidia', DeviceIDs: ['1'], Capabilities: [['gpu']] }]);
  });

  it('puts the secret values into the container environment only', () => {
    const spec = containerSpec(payload({ secretEnvironment: { TOKEN: 's3cr3t' }, secretNames: ['TOKEN'] }), context);
    expect(spec.Env).toContain('TOKEN=s3cr3t');
    expect(JSON.stringify(spec.Labels)).not.toContain('s3cr3t');
  });
});
