import { formatAge, formatDuration, renderTable, type Column } from './output.js';

/** The API's shapes the CLI prints (a subset of the Swagger views). */
export interface JobSummary {
  jobId: string; name: string; queue: string; project: string; gpus: number; arraySize?: number | null;
  status: string; statusReason: string | null; priority: number; createdAt: string; startedAt: string | null; stoppedAt: string | null;
}

export interface GpuUtilization {
  samples: number; avgPercent: number; peakPercent: number; avgMemoryMiB: number; peakMemoryMiB: number; idleFraction?: number; idle: boolean;
}

export interface Attempt {
  attempt: number; status: string; workerId: string; pool: string; gpuDevices: number[]; startedAt: string | null; stoppedAt: string | null;
  exitCode: number | null; reason: string | null; cost: { amount: string; currency: string; billedSeconds: number; running: boolean; gpuModel: string | null } | null;
  gpuUtilization?: GpuUtilization | null;
}

export interface JobDetail extends JobSummary {
  definition: string; image: string; command: string[]; resources: { vcpus: number; memoryMiB: number; gpus: number; gpuModel: string | null };
  timeoutSeconds: number | null; retryStrategy: { attempts: number }; dependsOn: { jobId: string }[];
  arrayProperties: { size: number; statusSummary: Record<string, number> } | { parentId: string; index: number } | null;
  tags: Record<string, string>; cost: Record<string, string>; costFinal: boolean; attempts: Attempt[]; gpuIdle?: boolean;
  events: { at: string; from: string | null; to: string; reason: string | null }[];
}

export interface Worker {
  workerId: string; pool: string; state: string; capacity: { vcpus: number; memoryMiB: number; gpus: number };
  allocated: { vcpus: number; memoryMiB: number; gpus: number };
  gpus: { index: number; model: string; memoryMiB: number; jobId: string | null; project?: string | null; queue: string | null }[];
  runningJobs: number; lastHeartbeatAt: string;
}

export interface Queue { name: string; priority: number; state: string; pools: string[]; schedulingPolicy: string }
export interface Definition { name: string; revision: number; status: string; image: string; resources: { vcpus: number; memoryMiB: number; gpus: number; gpuModel: string | null } }

const FINISHED = new Set(['SUCCEEDED', 'FAILED']);

/** squeue-like: ID NAME QUEUE PROJECT STATUS AGE GPUS REASON. */
export function jobsTable(jobs: JobSummary[], now: Date): string {
  const columns: Column<JobSummary>[] = [
    { header: 'ID', cell: (j) => j.jobId },
    { header: 'NAME', cell: (j) => j.name, max: 24 },
    { header: 'QUEUE', cell: (j) => j.queue, max: 16 },
    { header: 'PROJECT', cell: (j) => j.project, max: 16 },
    { header: 'STATUS', cell: (j) => j.status },
    { header: 'AGE', cell: (j) => formatAge(j.createdAt, now) },
    { header: 'GPUS', cell: (j) => (j.arraySize ? `${j.gpus}x${j.arraySize}` : String(j.gpus)) },
    // Running jobs have no reason to show; finished ones show how they ended.
    { header: 'REASON', cell: (j) => (j.status === 'RUNNING' || j.status === 'SUCCEEDED' ? '' : j.statusReason ?? '') },
  ];
  return renderTable(columns, jobs);
}

/** The estimated start the scheduler wrote into a RESERVED reason, if any. */
export function estimatedStart(reason: string | null): string | null {
  return /estimated start ([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}Z)/.exec(reason ?? '')?.[1] ?? null;
}

/** "2 GPU (A100), 0.5 vCPU, 128 MiB" */
export function describeResources(r: JobDetail['resources']): string {
  const parts: string[] = [];
  if (r.gpus > 0) parts.push(`${r.gpus} GPU${r.gpuModel ? ` (${r.gpuModel})` : ''}`);
  parts.push(`${r.vcpus} vCPU`, `${r.memoryMiB} MiB`);
  return parts.join(', ');
}

/** "12% avg, 80% peak; 1024 MiB peak" or "idle (0% avg ...)" for the GPUS UTIL column. */
export function describeUtilization(u: GpuUtilization | null | undefined): string {
  if (!u || u.samples === 0) return '-';
  const text = `${round1(u.avgPercent)}% avg, ${round1(u.peakPercent)}% peak, ${Math.round(u.peakMemoryMiB)} MiB peak`;
  return u.idle ? `IDLE (${text})` : text;
}

function round1(n: number): string {
  return String(Math.round(n * 10) / 10);
}

function quoteArg(a: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`;
}

/** What `gpubatch describe` prints: status, reason and estimated start, attempts with workers, GPUs and utilisation, timeline, cost. */
export function describeJob(job: JobDetail, now: Date): string {
  const lines: string[] = [];
  const field = (label: string, value: string) => lines.push(`${(label + ':').padEnd(14)}${value}`);
  field('Job', `${job.jobId} (${job.name})`);
  field('Status', job.status);
  if (job.statusReason) field('Reason', job.statusReason);
  const start = estimatedStart(job.statusReason);
  if (start && !FINISHED.has(job.status)) field('Est. start', start);
  field('Queue', job.queue);
  field('Project', job.project);
  field('Priority', String(job.priority));
  field('Definition', job.definition);
  field('Image', job.image);
  field('Command', job.command.map(quoteArg).join(' '));
  field('Resources', describeResources(job.resources));
  field('Timeout', job.timeoutSeconds ? formatDuration(job.timeoutSeconds) : 'none');
  field('Attempts', `${job.attempts.length} of at most ${job.retryStrategy.attempts}`);
  if (job.dependsOn.length) field('Depends on', job.dependsOn.map((d) => d.jobId).join(', '));
  if (job.arrayProperties && 'size' in job.arrayProperties) {
    field('Array', `${arrayProgress(job.arrayProperties.size, job.arrayProperties.statusSummary)}`);
  } else if (job.arrayProperties) {
    field('Array child', `index ${job.arrayProperties.index} of ${job.arrayProperties.parentId}`);
  }
  if (Object.keys(job.tags).length) field('Tags', Object.entries(job.tags).map(([k, v]) => `${k}=${v}`).join(', '));
  if (job.gpuIdle) field('GPU use', `IDLE: its GPUs averaged under 5% busy (see GPU UTIL below)`);
  const costs = Object.entries(job.cost);
  field('Cost', costs.length ? `${costs.map(([c, a]) => `${a} ${c}`).join(' + ')}${job.costFinal ? '' : ' (so far)'}` : 'none yet');
  field('Created', `${job.createdAt} (${formatAge(job.createdAt, now)} ago)`);

  lines.push('', 'Attempts:');
  if (job.attempts.length === 0) lines.push('  none yet');
  else {
    const attemptColumns: Column<Attempt>[] = [
      { header: '#', cell: (a) => String(a.attempt) },
      { header: 'STATUS', cell: (a) => a.status },
      { header: 'WORKER', cell: (a) => a.workerId },
      { header: 'POOL', cell: (a) => a.pool },
      { header: 'GPUS', cell: (a) => (a.gpuDevices.length ? a.gpuDevices.join(',') : '-') },
      { header: 'STARTED', cell: (a) => a.startedAt ?? '-' },
      { header: 'RAN', cell: (a) => (a.startedAt ? formatDuration(((a.stoppedAt ? new Date(a.stoppedAt) : now).getTime() - new Date(a.startedAt).getTime()) / 1000) : '-') },
      { header: 'EXIT', cell: (a) => (a.exitCode === null ? '-' : String(a.exitCode)) },
      { header: 'COST', cell: (a) => (a.cost ? `${a.cost.amount} ${a.cost.currency}` : '-') },
      { header: 'GPU UTIL', cell: (a) => describeUtilization(a.gpuUtilization) },
      { header: 'REASON', cell: (a) => a.reason ?? '' },
    ];
    lines.push(indent(renderTable(attemptColumns, job.attempts)));
  }
  lines.push('', 'Timeline:');
  for (const e of job.events) lines.push(`  ${e.at}  ${(e.from ? `${e.from} -> ` : '') + e.to}${e.reason ? `  ${e.reason}` : ''}`);
  return lines.join('\n').replace(/\n+$/, '') + '\n';
}

function indent(text: string): string {
  return text.replace(/\n$/, '').split('\n').map((l) => `  ${l}`).join('\n');
}

/** "7 of 10 done (SUCCEEDED 6, FAILED 1, RUNNING 3)" */
export function arrayProgress(size: number, summary: Record<string, number>): string {
  const done = (summary.SUCCEEDED ?? 0) + (summary.FAILED ?? 0);
  const parts = Object.entries(summary).filter(([, n]) => n > 0).sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => `${s} ${n}`);
  return `${done} of ${size} done${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

/** One line of `submit --wait` progress; it changes only when the job moves. */
export function progressLine(job: JobDetail): string {
  if (job.arrayProperties && 'size' in job.arrayProperties) {
    return `array ${job.jobId}: ${arrayProgress(job.arrayProperties.size, job.arrayProperties.statusSummary)}`;
  }
  return `job ${job.jobId}: ${job.status}${job.statusReason && job.status !== 'RUNNING' ? ` (${job.statusReason})` : ''}`;
}

/**
 * What `submit --wait` exits with: 0 when it succeeded; the container's exit
 * code when its last attempt exited non-zero (capped at 255); 1 for any other
 * failure (cancelled, timed out, a failed array child, a dependency failed).
 */
export function jobExitCode(job: JobDetail): number {
  if (job.status === 'SUCCEEDED') return 0;
  const last = job.attempts.at(-1);
  if (last?.exitCode !== null && last?.exitCode !== undefined && last.exitCode > 0) return Math.min(last.exitCode, 255);
  return 1;
}

export function isFinished(status: string): boolean {
  return FINISHED.has(status);
}

/**
 * The workers grid: a line per GPU with the job and project holding it,
 * the worker's pool, state (DRAINING shows the drain) and heartbeat age on
 * its first line. A worker without GPUs gets one line.
 */
export function workersGrid(workers: Worker[], now: Date): string {
  interface Line { w: Worker; first: boolean; gpu?: Worker['gpus'][number] }
  const lines: Line[] = workers.flatMap((w): Line[] => (w.gpus.length ? w.gpus.map((gpu, i) => ({ w, first: i === 0, gpu })) : [{ w, first: true }]));
  const onFirst = (f: (w: Worker) => string) => (l: Line) => (l.first ? f(l.w) : '');
  const columns: Column<Line>[] = [
    { header: 'WORKER', cell: onFirst((w) => w.workerId) },
    { header: 'POOL', cell: onFirst((w) => w.pool) },
    { header: 'STATE', cell: onFirst((w) => w.state) },
    { header: 'HEARTBEAT', cell: onFirst((w) => `${formatAge(w.lastHeartbeatAt, now)} ago`) },
    { header: 'CPU', cell: onFirst((w) => `${w.allocated.vcpus}/${w.capacity.vcpus}`) },
    { header: 'MEM(MiB)', cell: onFirst((w) => `${w.allocated.memoryMiB}/${w.capacity.memoryMiB}`) },
    { header: 'GPU', cell: (l) => (l.gpu ? String(l.gpu.index) : '-') },
    { header: 'MODEL', cell: (l) => l.gpu?.model ?? '' },
    { header: 'JOB', cell: (l) => (l.gpu ? l.gpu.jobId ?? 'free' : '') },
    { header: 'PROJECT', cell: (l) => l.gpu?.project ?? '' },
  ];
  const used = workers.reduce((n, w) => n + w.allocated.gpus, 0);
  const total = workers.reduce((n, w) => n + w.capacity.gpus, 0);
  return renderTable(columns, lines) + `\n${workers.length} worker(s); GPUs ${used}/${total} allocated\n`;
}

export function queuesTable(queues: Queue[]): string {
  return renderTable<Queue>([
    { header: 'NAME', cell: (q) => q.name },
    { header: 'PRIORITY', cell: (q) => String(q.priority) },
    { header: 'STATE', cell: (q) => q.state },
    { header: 'POLICY', cell: (q) => q.schedulingPolicy },
    { header: 'POOLS', cell: (q) => (q.pools.length ? q.pools.join(',') : '(all)') },
  ], queues);
}

export function definitionsTable(defs: Definition[]): string {
  return renderTable<Definition>([
    { header: 'NAME', cell: (d) => d.name },
    { header: 'REVISION', cell: (d) => String(d.revision) },
    { header: 'STATUS', cell: (d) => d.status },
    { header: 'RESOURCES', cell: (d) => describeResources(d.resources) },
    { header: 'IMAGE', cell: (d) => d.image },
  ], defs);
}

export interface UsageReport {
  groupBy: string[];
  rows: Record<string, unknown>[];
  totals: Record<string, unknown>[];
}

const USAGE_FIGURES = ['attempts', 'gpuHours', 'idleGpuHours', 'vcpuHours', 'memoryGiBHours', 'cost', 'currency'] as const;
const USAGE_HEADERS: Record<string, string> = {
  attempts: 'ATTEMPTS', gpuHours: 'GPU_HOURS', idleGpuHours: 'IDLE_GPU_HOURS', vcpuHours: 'VCPU_HOURS', memoryGiBHours: 'GIB_HOURS', cost: 'COST', currency: 'CURRENCY',
};

/** Grouped rows, then the per-currency totals. */
export function usageTable(report: UsageReport): string {
  const keys = [...report.groupBy, ...USAGE_FIGURES.filter((f) => report.totals.some((t) => f in t) || report.rows.some((r) => f in r))];
  const columns: Column<Record<string, unknown>>[] = keys.map((k) => ({
    header: USAGE_HEADERS[k] ?? k.toUpperCase(),
    cell: (r) => (r[k] === null || r[k] === undefined ? (r.__total ? '' : '-') : String(r[k])),
  }));
  const totals = report.totals.map((t) => ({ ...t, __total: true, [report.groupBy[0] ?? 'attempts']: report.groupBy.length ? 'TOTAL' : t.attempts }));
  return renderTable(columns, [...report.rows, ...totals]);
}
