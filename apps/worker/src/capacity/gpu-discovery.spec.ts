import { discoverGpus, parseNvidiaSmi } from './gpu-discovery.js';

describe('parseNvidiaSmi', () => {
  it('reads index, uuid, model and memory from each line, trimming spaces', () => {
    const csv = [
      '0, GPU-11111111-1111-1111-1111-111111111111, NVIDIA A100-SXM4-80GB, 81920',
      '1, GPU-22222222-2222-2222-2222-222222222222, NVIDIA H100 80GB HBM3 , 81559  ',
      '',
    ].join('\n');
    expect(parseNvidiaSmi(csv)).toEqual([
      { index: 0, uuid: 'GPU-11111111-1111-1111-1111-111111111111', model: 'NVIDIA A100-SXM4-80GB', memoryMiB: 81920 },
      { index: 1, uuid: 'GPU-22222222-2222-2222-2222-222222222222', model: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559 },
    ]);
  });

  it('returns no devices for empty output and accepts CRLF line ends', () => {
    expect(parseNvidiaSmi('')).toEqual([]);
    expect(parseNvidiaSmi('\n  \n')).toEqual([]);
    expect(parseNvidiaSmi('3, GPU-a, Tesla T4, 15360\r\n')).toEqual([{ index: 3, uuid: 'GPU-a', model: 'Tesla T4', memoryMiB: 15360 }]);
  });

  it('keeps a model name that contains a comma whole', () => {
    expect(parseNvidiaSmi('0, GPU-a, Odd, Name, 1024')[0].model).toBe('Odd, Name');
  });

  it.each([
    ['too few fields', '0, GPU-a, 81920', /expected 4 fields/],
    ['a non-numeric index', 'x, GPU-a, A100, 81920', /index "x"/],
    ['a negative index', '-1, GPU-a, A100, 81920', /index "-1"/],
    ['an empty uuid', '0, , A100, 81920', /uuid is empty/],
    ['an empty name', '0, GPU-a, , 81920', /name is empty/],
    ['unknown memory', '0, GPU-a, A100, [N/A]', /memory.total "\[N\/A\]"/],
    ['zero memory', '0, GPU-a, A100, 0', /memory.total "0"/],
  ])('throws on %s, naming the line', (_why, line, message) => {
    const parse = () => parseNvidiaSmi(`0, GPU-ok, A100, 1\n${line}`);
    expect(parse).toThrow(/nvidia-smi output line 2 is malformed/);
    expect(parse).toThrow(message);
  });
});

describe('discoverGpus from configuration', () => {
  it('declares no GPUs for "none"', async () => {
    await expect(discoverGpus({ mode: 'none' })).resolves.toEqual([]);
  });

  it('numbers a configured list 0..n-1', async () => {
    const gpus = await discoverGpus({
      mode: 'list',
      gpus: [{ model: 'A100', memoryMiB: 40960, uuid: 'GPU-x', nvlinkGroup: 0 }, { model: 'A100', memoryMiB: 40960 }],
    });
    expect(gpus).toEqual([
      { index: 0, uuid: 'GPU-x', model: 'A100', memoryMiB: 40960, nvlinkGroup: 0 },
      { index: 1, uuid: null, model: 'A100', memoryMiB: 40960, nvlinkGroup: null },
    ]);
  });
});
