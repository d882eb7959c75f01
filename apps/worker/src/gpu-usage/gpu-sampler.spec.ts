import { createLogger } from '#libs/log';
import { GpuSampler } from './gpu-sampler.js';

const logger = createLogger('test', 'silent');

describe('the GPU sampler', () => {
  it("keeps each attempt's own GPUs; an attempt that ends has at least one sample", async () => {
    let calls = 0;
    const sampler = new GpuSampler(async () => {
      calls++;
      return [{ index: 0, utilizationPercent: 80, memoryUsedMiB: 100 }, { index: 1, utilizationPercent: 2, memoryUsedMiB: 50 }];
    }, 60_000, logger);
    const busy = sampler.track('a#1', [0]);
    const idle = sampler.track('b#1', [1]);
    // The round started by track() is still running: finish() waits for it rather than starting another.
    expect(await busy.finish()).toEqual({ samples: 1, avgPercent: 80, peakPercent: 80, avgMemoryMiB: 100, peakMemoryMiB: 100, idleFraction: 0 });
    expect(await idle.finish()).toEqual({ samples: 2, avgPercent: 2, peakPercent: 2, avgMemoryMiB: 50, peakMemoryMiB: 50, idleFraction: 1 });
    expect(calls).toBe(2);
    sampler.stop();
  });

  it('samples nothing for attempts without GPUs, and gives up where nvidia-smi is missing', async () => {
    let calls = 0;
    const sampler = new GpuSampler(async () => {
      calls++;
      return null;
    }, 60_000, logger);
    expect(await sampler.track('cpu#1', []).finish()).toBeNull();
    expect(calls).toBe(0);
    expect(await sampler.track('gpu#1', [0]).finish()).toBeNull();
    const before = calls;
    expect(await sampler.track('gpu#2', [0]).finish()).toBeNull();
    expect(calls).toBe(before);
  });

  it('survives a failing nvidia-smi and reports no figures it did not see', async () => {
    const sampler = new GpuSampler(async () => {
      throw new Error('nvidia-smi failed');
    }, 60_000, logger);
    expect(await sampler.track('x#1', [0]).finish()).toBeNull();
    sampler.stop();
  });
});
