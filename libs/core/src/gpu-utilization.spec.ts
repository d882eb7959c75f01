import { isIdle, parseGpuSamples, UtilizationAccumulator } from './gpu-utilization.js';

describe('GPU utilisation per attempt', () => {
  it('parses nvidia-smi samples and skips rows it cannot read', () => {
    expect(parseGpuSamples('0, 87, 30000\n1, [N/A], 10\n2, 0, 0\nbad line\n')).toEqual([
      { index: 0, utilizationPercent: 87, memoryUsedMiB: 30000 },
      { index: 2, utilizationPercent: 0, memoryUsedMiB: 0 },
    ]);
  });

  it("keeps the average and peak of the attempt's own GPUs, memory summed over them, and the idle share", () => {
    const acc = new UtilizationAccumulator([0, 2]);
    expect(acc.summary()).toBeNull();
    acc.add([{ index: 0, utilizationPercent: 90, memoryUsedMiB: 1000 }, { index: 1, utilizationPercent: 100, memoryUsedMiB: 9 }, { index: 2, utilizationPercent: 0, memoryUsedMiB: 500 }]);
    acc.add([{ index: 0, utilizationPercent: 70, memoryUsedMiB: 3000 }, { index: 2, utilizationPercent: 4, memoryUsedMiB: 500 }]);
    acc.add([{ index: 1, utilizationPercent: 50, memoryUsedMiB: 1 }]); // none of its GPUs: ignored
    expect(acc.summary()).toEqual({ samples: 2, avgPercent: 41, peakPercent: 90, avgMemoryMiB: 2500, peakMemoryMiB: 3500, idleFraction: 0.5 });
  });

  it('calls an attempt idle under 5% on average, only once sampled', () => {
    expect(isIdle({ samples: 3, avgPercent: 4.9 })).toBe(true);
    expect(isIdle({ samples: 3, avgPercent: 5 })).toBe(false);
    expect(isIdle({ samples: 0, avgPercent: 0 })).toBe(false);
  });
});
