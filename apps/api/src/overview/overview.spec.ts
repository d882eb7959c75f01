import { gpuInventory, perMinute } from './overview.service.js';

describe('overview figures', () => {
  it('tallies GPUs per pool and model, held ones by the devices of active attempts', () => {
    const workers = [
      { id: 'w1', pool: 'p', gpus: [{ index: 0, model: 'A100' }, { index: 1, model: 'A100' }, { index: 2, model: 'H100' }] },
      { id: 'w2', pool: 'p', gpus: [{ index: 0, model: 'A100' }] },
      { id: 'w3', pool: 'cpu', gpus: [] },
    ];
    const held = [{ worker_id: 'w1', gpu_devices: [1, 2] }, { worker_id: 'w2', gpu_devices: [] }, { worker_id: 'gone', gpu_devices: [0] }];
    expect(gpuInventory(workers, held)).toEqual([
      { pool: 'p', model: 'A100', total: 3, allocated: 1 },
      { pool: 'p', model: 'H100', total: 1, allocated: 1 },
    ]);
  });

  it('gives every minute of the window, oldest first, zero where nothing happened', () => {
    const now = new Date('2026-12-02T10:31:45Z');
    const rows = perMinute(now, 3, [{ minute: new Date('2026-12-02T10:29:00Z'), n: 4 }], [{ minute: new Date('2026-12-02T10:31:00Z'), n: 2 }]);
    expect(rows).toEqual([
      { minute: '2026-12-02T10:29:00.000Z', submits: 4, starts: 0 },
      { minute: '2026-12-02T10:30:00.000Z', submits: 0, starts: 0 },
      { minute: '2026-12-02T10:31:00.000Z', submits: 0, starts: 2 },
    ]);
  });
});
