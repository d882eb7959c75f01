import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseGpuModel, Scheduler, type PassKind, type RunnableJob, type RunningAttempt, type ScheduleInput, type WorkerNode } from '#libs/core';

/**
 * `npm run bench:scheduler`: the pure core at scale. 1,000 workers x 8 GPUs
 * and 100,000 runnable jobs of mixed shapes. Reports placements per second
 * on an empty cluster, and the time of a pass with nothing new to place
 * (the cluster full, every job waiting), three ways: walked over every job
 * (every reason recomputed), with nothing changed since the last pass (the
 * last outcome reused), and with new jobs arriving between passes and the
 * clock moving on (only the new jobs decided), the idle pass of a scheduler
 * taking submits behind a full cluster.
 */
const WORKERS = Number(arg('--workers') ?? 1000);
const JOBS = Number(arg('--jobs') ?? 100_000);
// Fewer at 10,000 workers and 1,000,000 jobs, where one pass takes seconds.
const IDLE_PASSES = Number(arg('--idle-passes') ?? 10);
// New jobs submitted between two idle passes (of the shapes already waiting), and the time between them.
const ARRIVALS = Number(arg('--arrivals') ?? 100);
const PASS_INTERVAL_MS = 1000;
const WARMUP_PASSES = Number(arg('--warmup-passes') ?? 3);
const NOW = Date.parse('2026-11-21T12:00:00Z');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** A deterministic generator, so every run sees the same jobs. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

function cluster(): WorkerNode[] {
  return Array.from({ length: WORKERS }, (_, i) => ({
    id: `w-${i}`,
    pool: i % 10 === 0 ? 'spot' : 'default',
    schedulable: true,
    labels: { zone: i % 2 ? 'a' : 'b' },
    capacity: {
      vcpus: 96, memoryMiB: 1_048_576,
      gpus: Array.from({ length: 8 }, (_, g) => ({ index: g, model: i % 4 === 0 ? 'H100' : 'A100', nvlinkGroup: g < 4 ? 0 : 1 })),
    },
    allocated: { vcpus: 0, memoryMiB: 0, gpuIndices: [] },
  }));
}

function jobs(count = JOBS, first = 0, seed = 42): RunnableJob[] {
  const random = rng(seed);
  const h100 = parseGpuModel('H100');
  return Array.from({ length: count }, (_, k) => {
    const i = first + k;
    const r = random();
    const gpus = r < 0.1 ? 0 : r < 0.7 ? 1 : r < 0.85 ? 2 : r < 0.95 ? 4 : 8;
    return {
      id: `j-${i}`, queue: `q-${i % 4}`, queuePriority: i % 4, priority: Math.floor(random() * 3), submittedAt: NOW - JOBS + i,
      project: `p-${i % 7}`, pools: i % 20 === 0 ? ['spot'] : [],
      timeoutSeconds: random() < 0.8 ? 600 + Math.floor(random() * 86_400) : null,
      resources: { vcpus: Math.max(1, gpus * 8), memoryMiB: 16_384 * Math.max(1, gpus), gpus, gpuModel: random() < 0.1 ? h100 : undefined },
    };
  });
}

/** Wall time, and CPU time (user + system, all threads): on a shared machine the wall time also counts other processes' turns. */
function timed<T>(fn: () => T): { result: T; ms: number; cpuMs: number } {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const result = fn();
  const ms = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return { result, ms, cpuMs: (used.user + used.system) / 1000 };
}

const LOAD_AT_START = os.loadavg().map((l) => Math.round(l * 100) / 100);
const workers = cluster();
const waiting = jobs();
const core = new Scheduler();

// Pass 1: an empty cluster fills up. The core meets every job for the first time: it orders them all and works out their shapes.
const first = timed(() => core.schedule({ now: NOW, workers, jobs: waiting, running: [] }));
// The same pass again, walked: the core has kept the order of these jobs, as the scheduler's core has for jobs that arrived over time.
core.forget();
const warmFill = timed(() => core.schedule({ now: NOW, workers, jobs: waiting, running: [] }));
const placedIds = new Set(first.result.placements.map((p) => p.jobId));
const jobById = new Map(waiting.map((j) => [j.id, j]));

// Apply the placements, as the scheduler does, so the next passes see a full cluster.
const running: RunningAttempt[] = first.result.placements.map((p) => {
  const j = jobById.get(p.jobId)!;
  return { jobId: p.jobId, workerId: p.workerId, startedAt: NOW, timeoutSeconds: j.timeoutSeconds ?? null, vcpus: j.resources.vcpus, memoryMiB: j.resources.memoryMiB, gpuIndices: p.gpuDevices };
});
const held = new Map<string, RunningAttempt[]>();
for (const r of running) held.set(r.workerId, [...(held.get(r.workerId) ?? []), r]);
const fullWorkers: WorkerNode[] = workers.map((w) => {
  const mine = held.get(w.id) ?? [];
  return { ...w, allocated: { vcpus: mine.reduce((s, r) => s + r.vcpus, 0), memoryMiB: mine.reduce((s, r) => s + r.memoryMiB, 0), gpuIndices: mine.flatMap((r) => r.gpuIndices) } };
});
const rest = waiting.filter((j) => !placedIds.has(j.id));
const steady: ScheduleInput = { now: NOW + 1000, workers: fullWorkers, jobs: rest, running };

/** Median and max wall ms, median CPU ms, and how the core decided the passes. */
function summary(passes: { ms: number; cpuMs: number }[], kinds: PassKind[]) {
  const ms = passes.map((t) => t.ms).sort((a, b) => a - b);
  const cpu = passes.map((t) => t.cpuMs).sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 100) / 100;
  const byKind = Object.fromEntries([...new Set(kinds)].map((kind) => {
    const mine = passes.filter((_, i) => kinds[i] === kind);
    const kindMs = mine.map((t) => t.ms).sort((a, b) => a - b);
    const kindCpu = mine.map((t) => t.cpuMs).sort((a, b) => a - b);
    return [kind, { passes: mine.length, msMedian: round(kindMs[Math.floor(kindMs.length / 2)]), cpuMsMedian: round(kindCpu[Math.floor(kindCpu.length / 2)]) }];
  }));
  return { passes: passes.length, msMedian: round(ms[Math.floor(ms.length / 2)]), msMax: round(ms[ms.length - 1]), cpuMsMedian: round(cpu[Math.floor(cpu.length / 2)]), byKind };
}

// Passes with nothing new to place, each walked over every job: warm up, then measure several.
const measured = Math.max(1, IDLE_PASSES);
for (let i = 0; i < WARMUP_PASSES; i++) {
  core.forget();
  core.schedule(steady);
}
const walkedKinds: PassKind[] = [];
const idle = Array.from({ length: measured }, () => {
  core.forget();
  const t = timed(() => core.schedule(steady));
  walkedKinds.push(core.lastPassKind);
  return t;
});
const placedAgain = idle[0].result.placements.length;
// Read now: a result's reasons are refused once a later pass has edited the order they read.
const sampleReasons = [...idle[0].result.waiting.values()].slice(0, 3);

// The same passes with nothing changed since the last one: the clock moves on, the workers and attempts are read afresh.
core.schedule(steady);
const unchangedKinds: PassKind[] = [];
const unchanged = Array.from({ length: measured }, (_, i) => {
  const input: ScheduleInput = { ...steady, now: steady.now + (i + 1) * PASS_INTERVAL_MS, workers: steady.workers.map((w) => ({ ...w })), running: steady.running!.map((r) => ({ ...r })) };
  const t = timed(() => core.schedule(input));
  unchangedKinds.push(core.lastPassKind);
  return t;
});

// Jobs keep arriving behind the full cluster: each pass sees ARRIVALS more GPU jobs (shapes as before; a CPU-only job
// would still find room beside the GPU jobs, and a pass that places is not idle), the clock a second later. They are
// submitted at the default job priority: one of a higher priority than jobs waiting in its queue moves them back, and
// that pass walks every job.
let arriving = steady;
const arrivalKinds: PassKind[] = [];
let arrivalWaiting = 0;
const arrivals = Array.from({ length: measured }, (_, i) => {
  const added = jobs(ARRIVALS * 2, JOBS + i * ARRIVALS * 2, 1000 + i).filter((j) => j.resources.gpus > 0).slice(0, ARRIVALS)
    .map((j) => ({ ...j, priority: 0, submittedAt: NOW + 1 + i }));
  arriving = { ...arriving, now: arriving.now + PASS_INTERVAL_MS, jobs: [...arriving.jobs, ...added] };
  const input = arriving;
  const t = timed(() => core.schedule(input));
  arrivalKinds.push(core.lastPassKind);
  arrivalWaiting = t.result.waiting.size;
  return t;
});
// What a pass from scratch gives for the last of them: the same, or the figures above are not worth reading.
const fromScratch = new Scheduler().schedule(arriving);
const lastArrival = arrivals[arrivals.length - 1].result;
const sameAsFromScratch = fromScratch.placements.length === lastArrival.placements.length && fromScratch.waiting.size === arrivalWaiting
  && [...fromScratch.waiting].every(([id, reason]) => lastArrival.waiting.get(id) === reason);

// The same arrivals, each pass walked over every job (what they cost before): the kept order is still updated.
const arrivalsWalked = Array.from({ length: measured }, (_, i) => {
  const added = jobs(ARRIVALS * 2, JOBS + (measured + i) * ARRIVALS * 2, 5000 + i).filter((j) => j.resources.gpus > 0).slice(0, ARRIVALS)
    .map((j) => ({ ...j, priority: 0, submittedAt: NOW + 1 + measured + i }));
  arriving = { ...arriving, now: arriving.now + PASS_INTERVAL_MS, jobs: [...arriving.jobs, ...added] };
  const input = arriving;
  core.forget();
  return timed(() => core.schedule(input));
});

const out = {
  command: `npm run bench:scheduler -- --workers ${WORKERS} --jobs ${JOBS} --idle-passes ${IDLE_PASSES} --warmup-passes ${WARMUP_PASSES}`,
  machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
  loadAverageAtStart: LOAD_AT_START,
  loadAverageAtEnd: os.loadavg().map((l) => Math.round(l * 100) / 100),
  heapUsedMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
  workers: WORKERS,
  gpus: WORKERS * 8,
  runnableJobs: JOBS,
  fillPass: {
    placements: first.result.placements.length,
    ms: Math.round(first.ms),
    cpuMs: Math.round(first.cpuMs),
    placementsPerSecond: Math.round(first.result.placements.length / (first.ms / 1000)),
    placementsPerCpuSecond: Math.round(first.result.placements.length / (first.cpuMs / 1000)),
    reservations: first.result.reservations.length,
  },
  fillPassOrderKept: {
    placements: warmFill.result.placements.length,
    ms: Math.round(warmFill.ms),
    cpuMs: Math.round(warmFill.cpuMs),
    placementsPerSecond: Math.round(warmFill.result.placements.length / (warmFill.ms / 1000)),
    placementsPerCpuSecond: Math.round(warmFill.result.placements.length / (warmFill.cpuMs / 1000)),
  },
  idlePass: {
    waitingJobs: rest.length,
    placements: placedAgain,
    reservations: idle[0].result.reservations.length,
    walked: summary(idle, walkedKinds),
    nothingChanged: summary(unchanged, unchangedKinds),
    [`${ARRIVALS}NewJobsPerPass`]: { ...summary(arrivals, arrivalKinds), waitingAtEnd: arrivalWaiting, sameAsFromScratch },
    [`${ARRIVALS}NewJobsPerPassWalked`]: summary(arrivalsWalked, arrivalsWalked.map(() => 'full' as const)),
  },
  sampleReasons,
};
console.log(JSON.stringify(out, null, 2));
