import { hostname, cpus, totalmem } from 'node:os';
import { ConfigError, EnvReader } from './env-reader.js';

type Env = Record<string, string | undefined>;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ApiConfig {
  databaseUrl: string;
  redisUrl: string;
  port: number;
  host: string;
  logLevel: LogLevel;
}

export interface SchedulerConfig {
  databaseUrl: string;
  redisUrl: string;
  /** How often the scheduler runs a pass even when no event arrives. */
  intervalMs: number;
  /** A worker silent for this long is LOST. */
  workerTimeoutMs: number;
  logLevel: LogLevel;
}

/** GPUs a worker declares: detected, none, or listed in configuration. */
export type GpuSetting = { mode: 'auto' } | { mode: 'none' } | { mode: 'list'; gpus: { model: string; memoryMiB: number; uuid?: string }[] };

export interface WorkerConfig {
  redisUrl: string;
  workerId: string;
  pool: string;
  vcpus: number;
  memoryMiB: number;
  gpus: GpuSetting;
  networkMode: string;
  dockerSocket: string;
  heartbeatMs: number;
  /** Most output kept per attempt; the rest is cut with a marker. */
  maxLogBytes: number;
  /** How many attempts may run at once on this worker (resources permitting). */
  maxConcurrentJobs: number;
  logLevel: LogLevel;
}

function common(r: EnvReader) {
  return {
    redisUrl: r.url('REDIS_URL', ['redis', 'rediss'], 'redis://127.0.0.1:6379'),
    logLevel: r.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
  };
}

export function loadApiConfig(env: Env = process.env): ApiConfig {
  const r = new EnvReader(env);
  return {
    ...common(r),
    databaseUrl: r.url('DATABASE_URL', ['postgres', 'postgresql']),
    port: r.int('PORT', 3000, 0, 65535),
    host: r.string('HOST', '0.0.0.0'),
  };
}

export function loadSchedulerConfig(env: Env = process.env): SchedulerConfig {
  const r = new EnvReader(env);
  return {
    ...common(r),
    databaseUrl: r.url('DATABASE_URL', ['postgres', 'postgresql']),
    intervalMs: r.int('SCHEDULER_INTERVAL_MS', 1000, 10, 60_000),
    workerTimeoutMs: r.int('WORKER_HEARTBEAT_TIMEOUT_MS', 15_000, 1000),
  };
}

export function loadWorkerConfig(env: Env = process.env): WorkerConfig {
  const r = new EnvReader(env);
  const heartbeatMs = r.int('WORKER_HEARTBEAT_MS', 2000, 100, 60_000);
  return {
    ...common(r),
    workerId: r.identifier('WORKER_ID', hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 128)),
    pool: r.identifier('WORKER_POOL', 'default'),
    vcpus: r.number('WORKER_VCPUS', cpus().length, 0.001),
    memoryMiB: r.int('WORKER_MEMORY_MIB', Math.floor(totalmem() / 2 ** 20), 1),
    gpus: parseGpuSetting(env.WORKER_GPUS),
    networkMode: r.string('JOB_NETWORK_MODE', 'bridge'),
    dockerSocket: r.string('DOCKER_SOCKET', '/var/run/docker.sock'),
    heartbeatMs,
    maxLogBytes: r.int('JOB_MAX_LOG_BYTES', 10 * 2 ** 20, 1024),
    maxConcurrentJobs: r.int('WORKER_MAX_CONCURRENT_JOBS', 64, 1, 10_000),
  };
}

function parseGpuSetting(raw: string | undefined): GpuSetting {
  const value = raw?.trim() || 'auto';
  if (value === 'auto') return { mode: 'auto' };
  if (value === 'none') return { mode: 'none' };
  const rule = 'must be "auto", "none" or a JSON list of { "model": string, "memoryMiB": positive integer }';
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new ConfigError('WORKER_GPUS', rule);
  }
  if (!Array.isArray(parsed)) throw new ConfigError('WORKER_GPUS', rule);
  const gpus = parsed.map((g, i) => {
    if (
      typeof g !== 'object' || g === null ||
      typeof g.model !== 'string' || g.model.trim() === '' ||
      !Number.isInteger(g.memoryMiB) || g.memoryMiB <= 0 ||
      (g.uuid !== undefined && typeof g.uuid !== 'string')
    ) {
      throw new ConfigError('WORKER_GPUS', `${rule}; entry ${i} is not`);
    }
    return { model: g.model.trim(), memoryMiB: g.memoryMiB, ...(g.uuid ? { uuid: g.uuid } : {}) };
  });
  return { mode: 'list', gpus };
}
