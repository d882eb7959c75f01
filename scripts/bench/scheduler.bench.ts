import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseGpuModel, schedule, type RunnableJob, type RunningAttempt, type ScheduleInput, type WorkerNode } from '#libs/core';

/**
 * `npm run bench:scheduler`: the pure core at scale. 1,000 workers x 8 GPUs
 * and 100,000 runnable jobs of mixed shapes. Reports placements per second
 * on an empty cluster, and the time of a pass with nothing new to place
 * (the cluster full, every job waiting, every reason recomputed).
 */
const WORKERS = Number(arg('--workers') ?? 1000);
const JOBS = Number(arg('--jobs') ?? 100_000);
// Fewer at 10,000 workers and 1,000,000 jobs, where one pass takes seconds.
const IDLE_PASSES = Number(arg('--idle-passes') ?? 10);
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

function jobs(): RunnableJob[] {
  const random = rng(42);
  const h100 = parseGpuModel('H100');
  return Array.from({ length: JOBS }, (_, i) => {
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

// Pass 1: an empty cluster fills up. The core meets every job for the first time: it orders them all and works out their shapes.
const first = timed(() => schedule({ now: NOW, workers, jobs: waiting, running: [] }));
// The same pass again: the core has kept the order of these jobs, as the scheduler's core has for jobs that arrived over time.
const warmFill = timed(() => schedule({ now: NOW, workers, jobs: waiting, running: [] }));
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

// Passes with nothing new to place: warm up, then measure several.
for (let i = 0; i < WARMUP_PASSES; i++) schedule(steady);
const idle = Array.from({ length: Math.max(1, IDLE_PASSES) }, () => timed(() => schedule(steady)));
const idleMs = idle.map((t) => t.ms).sort((a, b) => a - b);
const idleCpuMs = idle.map((t) => t.cpuMs).sort((a, b) => a - b);
const placedAgain = idle[0].result.placements.length;

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
    msMedian: Math.round(idleMs[Math.floor(idleMs.length / 2)] * 10) / 10,
    msMax: Math.round(idleMs[idleMs.length - 1] * 10) / 10,
    cpuMsMedian: Math.round(idleCpuMs[Math.floor(idleCpuMs.length / 2)] * 10) / 10,
  },
  sampleReasons: [...idle[0].result.waiting.values()].slice(0, 3),
};
console.log(JSON.stringify(out, null, 2));
