import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { discoverGpus } from '../../apps/worker/src/capacity/gpu-discovery.js';

const stubs = resolve('test/fixtures/gpu');
const auto = { mode: 'auto' } as const;

describe('GPU discovery through nvidia-smi', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gpubatch-smi-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A PATH whose only nvidia-smi is a script with this body. */
  async function fakeSmi(body: string): Promise<NodeJS.ProcessEnv> {
    const file = join(dir, 'nvidia-smi');
    await writeFile(file, `#!/bin/sh\n${body}\n`);
    await chmod(file, 0o755);
    return { PATH: `${dir}${delimiter}/usr/bin${delimiter}/bin` };
  }

  it('declares the GPUs the stub nvidia-smi reports', async () => {
    const gpus = await discoverGpus(auto, { env: { PATH: `${stubs}${delimiter}${process.env.PATH}` } });
    expect(gpus).toEqual([
      { index: 0, uuid: 'GPU-11111111-1111-1111-1111-111111111111', model: 'NVIDIA A100-SXM4-80GB', memoryMiB: 81920 },
      { index: 1, uuid: 'GPU-22222222-2222-2222-2222-222222222222', model: 'NVIDIA A100-SXM4-80GB', memoryMiB: 81920 },
    ]);
  });

  it('reads whatever the machine has (GPUBATCH_FAKE_GPUS drives the stub)', async () => {
    const env = { PATH: `${stubs}${delimiter}${process.env.PATH}`, GPUBATCH_FAKE_GPUS: '0, GPU-a, Tesla T4, 15360\\n1, GPU-b, Tesla T4, 15360\\n2, GPU-c, Tesla T4, 15360' };
    const gpus = await discoverGpus(auto, { env });
    expect(gpus.map((g) => [g.index, g.uuid, g.model])).toEqual([[0, 'GPU-a', 'Tesla T4'], [1, 'GPU-b', 'Tesla T4'], [2, 'GPU-c', 'Tesla T4']]);
  });

  it('declares no GPUs when nvidia-smi is not installed', async () => {
    await expect(discoverGpus(auto, { env: { PATH: dir } })).resolves.toEqual([]);
  });

  it('refuses to guess when nvidia-smi fails', async () => {
    const env = await fakeSmi('echo "NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver." >&2; exit 9');
    await expect(discoverGpus(auto, { env })).rejects.toThrow(/nvidia-smi failed \(exit code 9\): NVIDIA-SMI has failed/);
  });

  it('refuses malformed output', async () => {
    const env = await fakeSmi('echo "0, GPU-a, A100"');
    await expect(discoverGpus(auto, { env })).rejects.toThrow(/line 1 is malformed/);
  });

  it('gives up on an nvidia-smi that hangs', async () => {
    const env = await fakeSmi('exec sleep 30');
    await expect(discoverGpus(auto, { env, timeoutMs: 300 })).rejects.toThrow(/nvidia-smi timed out/);
  });
});
