import { arrayProgress, describeJob, describeUtilization, estimatedStart, jobExitCode, jobsTable, progressLine, usageTable, workersGrid, type JobDetail } from './views.js';

const now = new Date('2026-12-02T12:00:00Z');

function detail(over: Partial<JobDetail> = {}): JobDetail {
  return {
    jobId: 'j1', name: 'train', queue: 'gpu', project: 'vision', gpus: 1, arraySize: null, status: 'RUNNABLE',
    statusReason: 'RESERVED: waiting for worker w1, estimated start 2026-12-02 14:05Z', priority: 0,
    createdAt: '2026-12-02T11:58:00Z', startedAt: null, stoppedAt: null, definition: 'train:1', image: 'img', command: ['sh', '-c', 'echo hi'],
    resources: { vcpus: 1, memoryMiB: 512, gpus: 1, gpuModel: 'A100' }, timeoutSeconds: 3600, retryStrategy: { attempts: 2 }, dependsOn: [],
    arrayProperties: null, tags: {}, cost: {}, costFinal: false, attempts: [],
    events: [{ at: '2026-12-02T11:58:00.000Z', from: null, to: 'SUBMITTED', reason: 'Job submitted' }],
    ...over,
  };
}

describe('CLI views', () => {
  it('lists jobs with squeue-like columns; running and succeeded jobs show no reason', () => {
    const text = jobsTable([
      detail(),
      detail({ jobId: 'j2', name: 'sweep', status: 'RUNNING', statusReason: 'Started', gpus: 2, arraySize: 8, project: 'nlp' }),
    ], now);
    expect(text.split('\n')).toEqual([
      'ID  NAME   QUEUE  PROJECT  STATUS    AGE  GPUS  REASON',
      'j1  train  gpu    vision   RUNNABLE  2m   1     RESERVED: waiting for worker w1, estimated start 2026-12-02 14:05Z',
      'j2  sweep  gpu    nlp      RUNNING   2m   2x8',
      '',
    ]);
  });

  it('describes a job: reason, estimated start, attempts with GPUs and utilisation, timeline, cost', () => {
    expect(estimatedStart(detail().statusReason)).toBe('2026-12-02 14:05Z');
    const waiting = describeJob(detail(), now);
    expect(waiting).toContain('Est. start:   2026-12-02 14:05Z\n');
    expect(waiting).toContain("Command:      sh -c 'echo hi'\n");
    expect(waiting).toContain('Resources:    1 GPU (A100), 1 vCPU, 512 MiB\n');
    expect(waiting).toContain('Attempts:\n  none yet\n');
    expect(waiting).toMatch(/Timeline:\n {2}2026-12-02T11:58:00.000Z {2}SUBMITTED {2}Job submitted\n$/);

    const done = describeJob(detail({
      status: 'SUCCEEDED', statusReason: 'Essential container exited', cost: { USD: '0.500000' }, costFinal: true,
      attempts: [{
        attempt: 1, status: 'SUCCEEDED', workerId: 'w1', pool: 'p', gpuDevices: [0, 3], startedAt: '2026-12-02T11:59:00Z', stoppedAt: '2026-12-02T11:59:30Z',
        exitCode: 0, reason: null, cost: { amount: '0.500000', currency: 'USD', billedSeconds: 30, running: false, gpuModel: 'A100' },
        gpuUtilization: { samples: 10, avgPercent: 1.26, peakPercent: 3, avgMemoryMiB: 10, peakMemoryMiB: 12.4, idle: true },
      }],
    }), now);
    expect(done).not.toContain('Est. start');
    expect(done).not.toContain('GPU use:');
    expect(describeJob(detail({ gpuIdle: true }), now)).toContain('GPU use:      IDLE: its GPUs averaged under 5% busy');
    expect(done).toContain('Cost:         0.500000 USD\n');
    expect(done).toMatch(/\n {2}1 {2}SUCCEEDED\s+w1\s+p\s+0,3\s+2026-12-02T11:59:00Z\s+30s\s+0\s+0.500000 USD\s+IDLE \(1.3% avg, 3% peak, 12 MiB peak\)\n/);
  });

  it('shows utilisation only when sampled', () => {
    expect(describeUtilization(null)).toBe('-');
    expect(describeUtilization({ samples: 0, avgPercent: 0, peakPercent: 0, avgMemoryMiB: 0, peakMemoryMiB: 0, idle: false })).toBe('-');
    expect(describeUtilization({ samples: 3, avgPercent: 55, peakPercent: 90, avgMemoryMiB: 1000, peakMemoryMiB: 2048, idle: false })).toBe('55% avg, 90% peak, 2048 MiB peak');
  });

  it('shows progress and exits as the job did', () => {
    expect(arrayProgress(10, { SUCCEEDED: 6, FAILED: 1, RUNNING: 3 })).toBe('7 of 10 done (FAILED 1, RUNNING 3, SUCCEEDED 6)');
    expect(progressLine(detail({ arrayProperties: { size: 2, statusSummary: { SUCCEEDED: 2 } } }))).toBe('array j1: 2 of 2 done (SUCCEEDED 2)');
    expect(progressLine(detail({ status: 'RUNNING', statusReason: 'x' }))).toBe('job j1: RUNNING');
    const attempt = (exitCode: number | null) => ({
      attempt: 1, status: 'FAILED', workerId: 'w', pool: 'p', gpuDevices: [], startedAt: null, stoppedAt: null, exitCode, reason: null, cost: null,
    });
    expect(jobExitCode(detail({ status: 'SUCCEEDED' }))).toBe(0);
    expect(jobExitCode(detail({ status: 'FAILED', attempts: [attempt(3)] }))).toBe(3);
    expect(jobExitCode(detail({ status: 'FAILED', attempts: [attempt(137)] }))).toBe(137);
    expect(jobExitCode(detail({ status: 'FAILED', attempts: [attempt(null)] }))).toBe(1);
    expect(jobExitCode(detail({ status: 'FAILED', attempts: [] }))).toBe(1);
  });

  it('draws the workers grid: a line per GPU with its holder, the worker on the first', () => {
    const text = workersGrid([{
      workerId: 'w1', pool: 'gpu', state: 'DRAINING', capacity: { vcpus: 8, memoryMiB: 4096, gpus: 2 }, allocated: { vcpus: 1, memoryMiB: 512, gpus: 1 },
      gpus: [{ index: 0, model: 'A100', memoryMiB: 1, jobId: 'j1', project: 'vision', queue: 'q' }, { index: 1, model: 'A100', memoryMiB: 1, jobId: null, project: null, queue: null }],
      runningJobs: 1, lastHeartbeatAt: '2026-12-02T11:59:57Z',
    }, {
      workerId: 'cpu', pool: 'cpu', state: 'ACTIVE', capacity: { vcpus: 2, memoryMiB: 1024, gpus: 0 }, allocated: { vcpus: 0, memoryMiB: 0, gpus: 0 },
      gpus: [], runningJobs: 0, lastHeartbeatAt: '2026-12-02T11:59:59Z',
    }], now);
    expect(text.split('\n')).toEqual([
      'WORKER  POOL  STATE     HEARTBEAT  CPU  MEM(MiB)  GPU  MODEL  JOB   PROJECT',
      'w1      gpu   DRAINING  3s ago     1/8  512/4096  0    A100   j1    vision',
      '                                                  1    A100   free',
      'cpu     cpu   ACTIVE    1s ago     0/2  0/1024    -',
      '',
      '2 worker(s); GPUs 1/2 allocated',
      '',
    ]);
  });

  it('prints usage rows and totals', () => {
    const text = usageTable({
      groupBy: ['project'],
      rows: [{ project: 'vision', attempts: 2, gpuHours: 1.5, idleGpuHours: 0.5, vcpuHours: 1, memoryGiBHours: 2, cost: '3.00', currency: 'USD' }],
      totals: [{ attempts: 2, gpuHours: 1.5, idleGpuHours: 0.5, vcpuHours: 1, memoryGiBHours: 2, cost: '3.00', currency: 'USD' }],
    });
    expect(text.split('\n')).toEqual([
      'PROJECT  ATTEMPTS  GPU_HOURS  IDLE_GPU_HOURS  VCPU_HOURS  GIB_HOURS  COST  CURRENCY',
      'vision   2         1.5        0.5             1           2          3.00  USD',
      'TOTAL    2         1.5        0.5             1           2          3.00  USD',
      '',
    ]);
  });
});
