import { hostname, cpus, networkInterfaces, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { LabelSelectorSyntaxError, parseLabelSelector, validateLabels } from '#libs/core';
import { ConfigError, EnvReader } from './env-reader.js';
import { SecretBox } from './secrets.js';

type Env = Record<string, string | undefined>;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ApiConfig {
  databaseUrl: string;
  redisUrl: string;
  port: number;
  host: string;
  logLevel: LogLevel;
  auth: AuthConfig;
  /** The web dashboard at /ui: the OIDC client it signs people in with (authorization code + PKCE), when OIDC is on. */
  dashboard: { oidcClientId: string | null };
  /** A join token for the pool `default` the API accepts from start-up (compose's no-manual-step quick start). */
  bootstrapJoinToken: string | null;
  /** Seals secret environment values (GPUBATCH_SECRET_KEY); null: secrets are refused. */
  secrets: SecretBox | null;
  /** Cron schedules may fire at most this often. */
  scheduleMinIntervalSeconds: number;
  /** Most bytes of job rows one submit may create, every array child counted. */
  submitMaxBytes: number;
  /** Group commit of single submits: how long the first waits for others to join its INSERT (0: only those already queued). */
  submitGroupWindowMs: number;
  /** How long the API may serve a cached queue, definition or pool when another API process's change notice was lost. */
  catalogCacheTtlMs: number;
}

export interface AuthConfig {
  /** `gpb_<id>_<secret>`: kept as an admin key on every start; unset, one is generated and printed once. */
  adminKey?: string;
  /** `gpb_<id>_<secret>`: kept on every start as a viewer of every project, for Prometheus to scrape /metrics with. */
  scrapeKey?: string;
  /** OIDC bearer tokens, when an issuer is configured. */
  oidc?: { issuer: string; audience: string; jwksUrl?: string; userClaim: string; groupsClaim: string };
  /** Requests per key (or per address, unauthenticated) per window. */
  rateLimit: { limit: number; windowSeconds: number };
  /** Live-log followers one key may hold open at once. */
  maxLogFollowers: number;
}

export const ADMIN_KEY_PATTERN = /^gpb_[A-Za-z0-9]{1,32}_[A-Za-z0-9_-]{32,}$/;

export interface SchedulerConfig {
  databaseUrl: string;
  /** Benchmarks: append one JSON line per placement pass (its timings) to this file. */
  passStatsFile?: string;
  redisUrl: string;
  /** Preemption guards and signal (docs/preemption.md). */
  preemption?: { minRuntimeSeconds: number; maxPreemptionsPerJob: number; signal: string };
  /** How often the scheduler runs a pass even when no event arrives. */
  intervalMs: number;
  /** A worker silent for this long is LOST. */
  workerTimeoutMs: number;
  /** Fair share: past usage counts half after this long. */
  fairShareHalfLifeSeconds: number;
  /** Fair share: per-project weights (default 1); a weight of 2 earns twice the share. */
  fairShareWeights: Map<string, number>;
  /** Running attempts' usage and cost are brought up to date this often. */
  usageAccrualSeconds: number;
  /** Finished jobs, their events and logs are removed this long after they end; usage rows stay. */
  jobRetentionDays: number;
  /**
   * How long a worker's heartbeats may omit an attempt it should hold before
   * the attempt is failed as `Container lost` (and list an ended one before
   * it is told to stop it); also how long a worker may stay silent about a
   * timed-out attempt before the scheduler ends it.
   */
  attemptGraceMs: number;
  /** Past an attempt's timeout, how long the scheduler leaves its worker to stop it (the worker's stop grace plus slack). */
  timeoutGraceSeconds: number;
  /** A worker still listing an ended attempt is told to stop it again after this long. */
  terminateRepeatMs: number;
  /**
   * `required`: attempt reports must be signed by the worker the attempt was
   * placed on (docs/worker-security.md); others are refused. `off`: the
   * unauthenticated dev mode, reports are believed as they come.
   */
  workerAuth: 'required' | 'off';
  /** Opens secret environment values for dispatch (GPUBATCH_SECRET_KEY); null when none is set. */
  secrets: SecretBox | null;
  logLevel: LogLevel;
}

/** GPUs a worker declares: detected, none, or listed in configuration. */
export type GpuSetting =
  | { mode: 'auto' }
  | { mode: 'none' }
  | { mode: 'list'; gpus: { model: string; memoryMiB: number; uuid?: string; nvlinkGroup?: number }[] };

export interface WorkerConfig {
  redisUrl: string;
  workerId: string;
  pool: string;
  /** Labels job selectors match, from WORKER_LABELS (`zone=a,nvlink=true`). */
  labels: Record<string, string>;
  vcpus: number;
  memoryMiB: number;
  gpus: GpuSetting;
  networkMode: string;
  /** The address other nodes of a multi-node job reach this worker's main node on (WORKER_ADVERTISE_ADDRESS). */
  advertiseAddress?: string;
  dockerSocket: string;
  heartbeatMs: number;
  /** How often the GPUs of running attempts are sampled with nvidia-smi (utilisation, memory used); default 10 s. */
  gpuSampleMs?: number;
  /** Most output kept per attempt; the rest is cut with a marker. */
  maxLogBytes: number;
  /** How many attempts may run at once on this worker (resources permitting). */
  maxConcurrentJobs: number;
  /** Between SIGTERM and SIGKILL when a container is stopped (timeout, terminate). */
  stopGraceSeconds: number;
  /** Survives a restart of the worker: the outbox of reports not yet recorded by the scheduler. */
  stateDir: string;
  /** Job directories mounted at /gpubatch in containers (checkpoints, preemption notice): WORKER_JOB_DATA_DIR, shared storage to follow jobs across workers. */
  jobDataDir?: string;
  /** WORKER_SPOT_NOTICE=aws: poll `url` for the cloud's spot interruption notice. */
  spotNotice?: { url: string; intervalMs: number } | null;
  /** Set: the worker joins through the API with this token and uses the Redis identity it receives. */
  joinToken?: string | null;
  /** Where the worker joins (POST /api/v1/workers/join). */
  apiUrl?: string;
  logLevel: LogLevel;
  /** docker (the default, always in production); simulated: attempts sleep instead of running, for control-plane benchmarks. */
  runtime?: 'docker' | 'simulated';
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
    secrets: SecretBox.fromEnv(env.GPUBATCH_SECRET_KEY, env.GPUBATCH_SECRET_KEY_PREVIOUS),
    scheduleMinIntervalSeconds: r.int('SCHEDULE_MIN_INTERVAL_SECONDS', 60, 1, 86_400),
    submitMaxBytes: r.int('SUBMIT_MAX_BYTES', 64 * 2 ** 20, 1024),
    submitGroupWindowMs: r.int('SUBMIT_GROUP_WINDOW_MS', 0, 0, 50),
    catalogCacheTtlMs: r.int('CATALOG_CACHE_TTL_MS', 2000, 0, 600_000),
    bootstrapJoinToken: joinToken(env, 'GPUBATCH_BOOTSTRAP_JOIN_TOKEN'),
    auth: loadAuthConfig(r, env),
    dashboard: { oidcClientId: env.GPUBATCH_UI_OIDC_CLIENT_ID?.trim() ? r.string('GPUBATCH_UI_OIDC_CLIENT_ID', '') : null },
  };
}

function loadAuthConfig(r: EnvReader, env: Env): AuthConfig {
  const adminKey = env.GPUBATCH_ADMIN_KEY?.trim() || undefined;
  if (adminKey !== undefined && !ADMIN_KEY_PATTERN.test(adminKey)) {
    throw new ConfigError('GPUBATCH_ADMIN_KEY', 'must be gpb_<id>_<secret>: id 1-32 letters or digits, secret at least 32 base64url characters');
  }
  const scrapeKey = env.GPUBATCH_SCRAPE_KEY?.trim() || undefined;
  if (scrapeKey !== undefined && !ADMIN_KEY_PATTERN.test(scrapeKey)) {
    throw new ConfigError('GPUBATCH_SCRAPE_KEY', 'must be gpb_<id>_<secret>: id 1-32 letters or digits, secret at least 32 base64url characters');
  }
  if (scrapeKey !== undefined && adminKey !== undefined && scrapeKey.split('_')[1] === adminKey.split('_')[1]) {
    throw new ConfigError('GPUBATCH_SCRAPE_KEY', 'must have another id than GPUBATCH_ADMIN_KEY');
  }
  const issuer = env.OIDC_ISSUER?.trim() || undefined;
  let oidc: AuthConfig['oidc'];
  if (issuer !== undefined) {
    r.url('OIDC_ISSUER', ['https', 'http']);
    const audience = env.OIDC_AUDIENCE?.trim();
    if (!audience) throw new ConfigError('OIDC_AUDIENCE', 'must be set when OIDC_ISSUER is');
    const jwksUrl = env.OIDC_JWKS_URL?.trim() ? r.url('OIDC_JWKS_URL', ['https', 'http']) : undefined;
    oidc = {
      issuer, audience, ...(jwksUrl ? { jwksUrl } : {}),
      userClaim: r.string('OIDC_USER_CLAIM', 'sub'),
      groupsClaim: r.string('OIDC_GROUPS_CLAIM', 'groups'),
    };
  }
  return {
    ...(adminKey ? { adminKey } : {}),
    ...(scrapeKey ? { scrapeKey } : {}),
    ...(oidc ? { oidc } : {}),
    rateLimit: { limit: r.int('RATE_LIMIT_REQUESTS', 600, 1), windowSeconds: r.int('RATE_LIMIT_WINDOW_SECONDS', 10, 1, 3600) },
    maxLogFollowers: r.int('MAX_LOG_FOLLOWERS_PER_KEY', 8, 1, 10_000),
  };
}

export function loadSchedulerConfig(env: Env = process.env): SchedulerConfig {
  const r = new EnvReader(env);
  return {
    ...common(r),
    databaseUrl: r.url('DATABASE_URL', ['postgres', 'postgresql']),
    intervalMs: r.int('SCHEDULER_INTERVAL_MS', 1000, 10, 60_000),
    passStatsFile: env.SCHEDULER_PASS_STATS_FILE?.trim() || undefined,
    workerTimeoutMs: r.int('WORKER_HEARTBEAT_TIMEOUT_MS', 15_000, 1000),
    fairShareHalfLifeSeconds: r.int('FAIR_SHARE_HALF_LIFE_SECONDS', 7 * 24 * 3600, 60),
    fairShareWeights: parseWeights(env.FAIR_SHARE_WEIGHTS),
    usageAccrualSeconds: r.int('USAGE_ACCRUAL_SECONDS', 30, 1, 60),
    jobRetentionDays: r.int('JOB_RETENTION_DAYS', 30, 1, 36_500),
    attemptGraceMs: r.int('SCHEDULER_ATTEMPT_GRACE_MS', 10_000, 100, 3_600_000),
    timeoutGraceSeconds: r.int('SCHEDULER_TIMEOUT_GRACE_SECONDS', 60, 0, 86_400),
    terminateRepeatMs: r.int('SCHEDULER_TERMINATE_REPEAT_MS', 60_000, 100, 86_400_000),
    // Secure by default: only the harnesses of one machine (tests, start:all) turn it off.
    workerAuth: r.oneOf('GPUBATCH_WORKER_AUTH', ['required', 'off'] as const, 'required'),
    secrets: SecretBox.fromEnv(env.GPUBATCH_SECRET_KEY, env.GPUBATCH_SECRET_KEY_PREVIOUS),
    preemption: {
      minRuntimeSeconds: r.int('PREEMPTION_MIN_RUNTIME_SECONDS', 300, 0, 7 * 86_400),
      maxPreemptionsPerJob: r.int('PREEMPTION_MAX_PER_JOB', 3, 0, 1000),
      signal: r.oneOf('PREEMPTION_SIGNAL', ['SIGUSR1', 'SIGUSR2', 'SIGTERM', 'SIGINT', 'SIGHUP'] as const, 'SIGUSR1'),
    },
  };
}

export function loadWorkerConfig(env: Env = process.env): WorkerConfig {
  const r = new EnvReader(env);
  const heartbeatMs = r.int('WORKER_HEARTBEAT_MS', 2000, 100, 60_000);
  const workerId = r.identifier('WORKER_ID', hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 128));
  return {
    ...common(r),
    workerId,
    pool: r.identifier('WORKER_POOL', 'default'),
    labels: parseLabels(env.WORKER_LABELS),
    vcpus: r.number('WORKER_VCPUS', cpus().length, 0.001),
    memoryMiB: r.int('WORKER_MEMORY_MIB', Math.floor(totalmem() / 2 ** 20), 1),
    gpus: parseGpuSetting(env.WORKER_GPUS),
    networkMode: r.string('JOB_NETWORK_MODE', 'bridge'),
    advertiseAddress: advertiseAddress(env.WORKER_ADVERTISE_ADDRESS),
    dockerSocket: r.string('DOCKER_SOCKET', '/var/run/docker.sock'),
    heartbeatMs,
    gpuSampleMs: r.int('WORKER_GPU_SAMPLE_MS', 10_000, 100, 3_600_000),
    maxLogBytes: r.int('JOB_MAX_LOG_BYTES', 10 * 2 ** 20, 1024),
    maxConcurrentJobs: r.int('WORKER_MAX_CONCURRENT_JOBS', 64, 1, 10_000),
    stopGraceSeconds: r.int('JOB_STOP_GRACE_SECONDS', 30, 0, 3600),
    stateDir: path.resolve(r.string('WORKER_STATE_DIR', path.join(tmpdir(), `gpubatch-worker-${workerId}`))),
    jobDataDir: path.resolve(r.string('WORKER_JOB_DATA_DIR', path.join(tmpdir(), 'gpubatch-jobs'))),
    spotNotice: r.oneOf('WORKER_SPOT_NOTICE', ['off', 'aws'] as const, 'off') === 'aws'
      ? {
        url: r.url('WORKER_SPOT_NOTICE_URL', ['http', 'https'], 'http://169.254.169.254/latest/meta-data/spot/instance-action'),
        intervalMs: r.int('WORKER_SPOT_NOTICE_INTERVAL_MS', 5000, 100, 60_000),
      }
      : null,
    joinToken: joinToken(env, 'WORKER_JOIN_TOKEN'),
    apiUrl: r.url('GPUBATCH_API_URL', ['http', 'https'], 'http://127.0.0.1:3000'),
    runtime: r.oneOf('WORKER_RUNTIME', ['docker', 'simulated'] as const, 'docker'),
  };
}

/** WORKER_ADVERTISE_ADDRESS, else the first non-internal IPv4 address of this machine, else 127.0.0.1. */
function advertiseAddress(raw: string | undefined): string {
  const value = raw?.trim();
  if (value) {
    if (!/^[A-Za-z0-9.:-]{1,253}$/.test(value)) throw new ConfigError('WORKER_ADVERTISE_ADDRESS', 'must be an IP address or a host name');
    return value;
  }
  for (const list of Object.values(networkInterfaces())) {
    const found = list?.find((a) => a.family === 'IPv4' && !a.internal);
    if (found) return found.address;
  }
  return '127.0.0.1';
}

function parseGpuSetting(raw: string | undefined): GpuSetting {
  const value = raw?.trim() || 'auto';
  if (value === 'auto') return { mode: 'auto' };
  if (value === 'none') return { mode: 'none' };
  const rule = 'must be "auto", "none" or a JSON list of { "model": string, "memoryMiB": positive integer }';
  const parsed = parseJson('WORKER_GPUS', value, rule);
  if (!Array.isArray(parsed)) throw new ConfigError('WORKER_GPUS', rule);
  const gpus = parsed.map((g, i) => {
    if (
      typeof g !== 'object' || g === null ||
      typeof g.model !== 'string' || g.model.trim() === '' ||
      !Number.isInteger(g.memoryMiB) || g.memoryMiB <= 0 ||
      (g.uuid !== undefined && typeof g.uuid !== 'string') ||
      (g.nvlinkGroup !== undefined && (!Number.isInteger(g.nvlinkGroup) || g.nvlinkGroup < 0))
    ) {
      throw new ConfigError('WORKER_GPUS', `${rule} (optional "uuid", "nvlinkGroup" a non-negative integer); entry ${i} is not`);
    }
    return {
      model: g.model.trim(), memoryMiB: g.memoryMiB,
      ...(g.uuid ? { uuid: g.uuid } : {}), ...(g.nvlinkGroup !== undefined ? { nvlinkGroup: g.nvlinkGroup } : {}),
    };
  });
  return { mode: 'list', gpus };
}

/** `zone=a,nvlink=true`: the same key and value rules as label selectors. */
function parseLabels(raw: string | undefined): Record<string, string> {
  if (!raw?.trim()) return {};
  const labels: Record<string, string> = {};
  for (const term of raw.split(',')) {
    const eq = term.indexOf('=');
    if (eq <= 0) throw new ConfigError('WORKER_LABELS', `must be key=value pairs separated by commas; "${term.trim()}" is not`);
    labels[term.slice(0, eq).trim()] = term.slice(eq + 1).trim();
  }
  try {
    validateLabels(labels);
    parseLabelSelector(Object.keys(labels).join(','));
  } catch (error) {
    if (error instanceof LabelSelectorSyntaxError) throw new ConfigError('WORKER_LABELS', error.message);
    throw error;
  }
  return labels;
}

/** `{"vision": 2, "nlp": 1}` */
function parseWeights(raw: string | undefined): Map<string, number> {
  if (!raw?.trim()) return new Map();
  const rule = 'must be a JSON object of project name to a positive number';
  const parsed = parseJson('FAIR_SHARE_WEIGHTS', raw, rule);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError('FAIR_SHARE_WEIGHTS', rule);
  const weights = new Map<string, number>();
  for (const [project, weight] of Object.entries(parsed)) {
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0) throw new ConfigError('FAIR_SHARE_WEIGHTS', `${rule}; ${project} is not`);
    weights.set(project, weight);
  }
  return weights;
}

/** A variable's JSON value; text that is not JSON stops the process with the variable's rule. */
function parseJson(variable: string, text: string, rule: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ConfigError(variable, rule);
  }
}

/** A join token: unset or empty means none; otherwise at least 16 printable characters. */
function joinToken(env: Env, variable: string): string | null {
  const value = env[variable]?.trim();
  if (!value) return null;
  if (!/^[\x21-\x7e]{16,256}$/.test(value)) throw new ConfigError(variable, 'must be 16-256 printable characters without spaces');
  return value;
}
