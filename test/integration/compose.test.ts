import { SecretBox } from '#libs/config';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { parse } from 'yaml';
import { LocalCluster } from '../../scripts/lib/local-cluster.js';
import { RedisKeys, type WorkerDescriptor } from '#libs/queue';
import { testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

const ROOT = resolve('.');
// merge: Compose applies YAML merge keys (`<<: *app`), as the file relies on.
const base = parse(readFileSync(resolve(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true });
const gpu = parse(readFileSync(resolve(ROOT, 'docker-compose.gpu.yml'), 'utf8'));
const APPS = ['api', 'scheduler', 'worker'];

/** What `docker compose -f docker-compose.yml -f docker-compose.gpu.yml` gives the worker: maps merged, the override winning. */
function gpuWorker(): { command: string[]; environment: Record<string, string> } {
  const worker = base.services.worker;
  return { command: worker.command, environment: { ...worker.environment, ...gpu.services.worker.environment } };
}

/** Runs a compose health check's CMD argv here, with its probe port moved to `port`; resolves with its exit code. */
function runHealthCheck(test: string[], port: number): Promise<number | null> {
  const [kind, command, ...args] = test;
  expect(kind).toBe('CMD');
  const argv = args.map((a) => a.replace('127.0.0.1:9464', `127.0.0.1:${port}`));
  return new Promise((done) => spawn(command === 'node' ? process.execPath : command, argv).on('exit', done));
}

describe('docker-compose.yml: the quick start is safe and GPU-ready', () => {
  it('publishes the API (and Grafana, in the monitoring profile) on loopback only, unless GPUBATCH_API_BIND opens it', () => {
    expect(base.services.api.ports).toEqual(['${GPUBATCH_API_BIND:-127.0.0.1}:${GPUBATCH_API_PORT:-3000}:3000']);
    expect(base.services.grafana.ports).toEqual(['${GPUBATCH_GRAFANA_BIND:-127.0.0.1}:${GPUBATCH_GRAFANA_PORT:-3001}:3000']);
    for (const name of Object.keys(base.services).filter((s) => s !== 'api' && s !== 'grafana')) expect(base.services[name].ports).toBeUndefined();
  });

  it('adds Prometheus and Grafana only with the monitoring profile, the dashboard provisioned', () => {
    const profiled = Object.keys(base.services).filter((s) => base.services[s].profiles !== undefined);
    expect(profiled.sort()).toEqual(['grafana', 'prometheus']);
    for (const s of profiled) expect(base.services[s].profiles).toEqual(['monitoring']);
    expect(base.services.prometheus.volumes).toContain('./monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro');
    expect(base.services.grafana.volumes).toEqual([
      './monitoring/grafana/provisioning:/etc/grafana/provisioning:ro', './monitoring/grafana/dashboards:/var/lib/grafana/dashboards:ro',
    ]);
    // Every path the services mount exists in the repository.
    for (const s of profiled) {
      for (const v of base.services[s].volumes.filter((x: string) => x.startsWith('./'))) expect(existsSync(resolve(ROOT, v.split(':')[0]))).toBe(true);
    }
    const provider = parse(readFileSync(resolve(ROOT, 'monitoring/grafana/provisioning/dashboards/gpubatch.yml'), 'utf8'));
    expect(provider.providers[0].options.path).toBe('/var/lib/grafana/dashboards');
    const datasource = parse(readFileSync(resolve(ROOT, 'monitoring/grafana/provisioning/datasources/prometheus.yml'), 'utf8'));
    expect(datasource.datasources[0]).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090', uid: 'gpubatch-prometheus' });
    const dashboard = JSON.parse(readFileSync(resolve(ROOT, 'monitoring/grafana/dashboards/gpubatch.json'), 'utf8'));
    expect(dashboard.panels.length).toBeGreaterThan(8);
    for (const panel of dashboard.panels) expect(panel.datasource.uid).toBe('gpubatch-prometheus');
  });

  it('has Prometheus scrape the API with the scrape key, and the scheduler and worker on their metrics port', () => {
    const key = '${GPUBATCH_SCRAPE_KEY:-gpb_localscrape_gpubatch-local-scrape-key-change-me-000}';
    expect(base.services.api.environment.GPUBATCH_SCRAPE_KEY).toBe(key);
    expect(base.services.prometheus.environment.GPUBATCH_SCRAPE_KEY).toBe(key);
    expect(base.services.prometheus.entrypoint.join(' ')).toContain('> /prometheus/scrape-key');
    for (const app of ['scheduler', 'worker']) expect(base.services[app].environment).toMatchObject({ METRICS_PORT: '9465', METRICS_HOST: '0.0.0.0' });
    const prometheus = parse(readFileSync(resolve(ROOT, 'monitoring/prometheus.yml'), 'utf8'));
    expect(prometheus.scrape_configs.map((c: { job_name: string; static_configs: { targets: string[] }[] }) => [c.job_name, c.static_configs[0].targets])).toEqual([
      ['gpubatch-api', ['api:3000']], ['gpubatch-scheduler', ['scheduler:9465']], ['gpubatch-worker', ['worker:9465']],
    ]);
    expect(prometheus.scrape_configs[0].authorization).toEqual({ type: 'Bearer', credentials_file: '/prometheus/scrape-key' });
    // Prometheus itself accepts it (the key file moved to where this test can write it).
    const dir = mkdtempSync(resolve(tmpdir(), 'gpubatch-prom-'));
    writeFileSync(resolve(dir, 'scrape-key'), 'gpb_x_' + 'k'.repeat(40));
    writeFileSync(resolve(dir, 'prometheus.yml'), readFileSync(resolve(ROOT, 'monitoring/prometheus.yml'), 'utf8').replaceAll('/prometheus/scrape-key', resolve(dir, 'scrape-key')));
    const check = spawnSync('promtool', ['check', 'config', resolve(dir, 'prometheus.yml')], { encoding: 'utf8' });
    expect({ status: check.status, stderr: check.stderr }).toEqual({ status: 0, stderr: '' });
  });

  it('builds one image, which every app service runs', () => {
    const built = APPS.filter((app) => base.services[app].build !== undefined);
    expect(built).toEqual(['api']);
    for (const app of APPS) expect(base.services[app].image).toBe('gpubatch:local');
    // The services without a build start after the one that builds the image.
    for (const app of ['scheduler', 'worker']) expect(base.services[app].depends_on.api).toEqual({ condition: 'service_healthy' });
  });

  it('gives every service a health check', () => {
    for (const name of Object.keys(base.services)) expect(base.services[name].healthcheck?.test?.length).toBeGreaterThan(1);
    for (const app of ['scheduler', 'worker']) expect(base.services[app].environment.PROBE_PORT).toBe('9464');
  });

  it('mounts the Docker socket from DOCKER_SOCK, defaulting to the rootful path', () => {
    expect(base.services.worker.volumes).toContain('${DOCKER_SOCK:-/var/run/docker.sock}:/var/run/docker.sock');
  });

  it('keeps the worker\'s outbox on a volume, so unrecorded reports outlive the container', () => {
    expect(base.services.worker.volumes).toContain('workerstate:/var/lib/gpubatch');
    expect(base.services.worker.environment.WORKER_STATE_DIR).toBe('/var/lib/gpubatch');
  });

  it('the GPU override reserves every NVIDIA GPU with nvidia-smi inside, and detects them', () => {
    expect(gpu.services.worker.deploy.resources.reservations.devices).toEqual([
      { driver: 'nvidia', count: 'all', capabilities: ['gpu', 'utility'] },
    ]);
    expect(gpuWorker().environment.WORKER_GPUS).toBe('auto');
    expect(base.services.worker.environment.WORKER_GPUS).toBe('none');
  });
});

describe('docker-compose.yml: Redis needs a password, the worker joins with a token', () => {
  const REDIS_PASSWORD = '${REDIS_PASSWORD:-gpubatch-local-redis-password}';
  const JOIN_TOKEN = '${GPUBATCH_BOOTSTRAP_JOIN_TOKEN:-gpubatch-local-bootstrap-join-token}';

  it('runs Redis with requirepass from REDIS_PASSWORD, and checks its health with it', () => {
    const redis = base.services.redis;
    expect(redis.environment.REDIS_PASSWORD).toBe(REDIS_PASSWORD);
    expect(redis.command.join(' ')).toContain('--requirepass "$$REDIS_PASSWORD"');
    expect(redis.healthcheck.test.join(' ')).toContain('-a "$$REDIS_PASSWORD"');
    expect(redis.ports).toBeUndefined();
  });

  it('gives the control plane the password, and the worker neither it nor the Postgres URL', () => {
    for (const app of ['api', 'scheduler']) {
      expect(base.services[app].environment.REDIS_URL).toBe(`redis://:${REDIS_PASSWORD}@redis:6379`);
    }
    const worker = base.services.worker.environment;
    expect(worker.REDIS_URL).toBe('redis://redis:6379');
    expect(JSON.stringify(worker)).not.toContain('REDIS_PASSWORD');
    expect(worker.DATABASE_URL).toBeUndefined();
  });

  it('wires the bootstrap join token from the API to the worker, and the scheduler requires signed reports', () => {
    expect(base.services.api.environment.GPUBATCH_BOOTSTRAP_JOIN_TOKEN).toBe(JOIN_TOKEN);
    expect(base.services.worker.environment.WORKER_JOIN_TOKEN).toBe(JOIN_TOKEN);
    expect(base.services.worker.environment.GPUBATCH_API_URL).toBe('http://api:3000');
    expect(base.services.worker.environment.WORKER_POOL).toBe('default');
    expect(base.services.scheduler.environment.GPUBATCH_WORKER_AUTH).toBe('required');
  });

  it('gives the secrets key to the API and the scheduler, a valid one, and never to the worker', () => {
    const key: string = base.services.api.environment.GPUBATCH_SECRET_KEY;
    expect(base.services.scheduler.environment.GPUBATCH_SECRET_KEY).toBe(key);
    // Compose fills in `${GPUBATCH_SECRET_KEY:-<default>}`: the default must be a key the apps accept.
    const fallback = /^\$\{GPUBATCH_SECRET_KEY:-(.+)\}$/.exec(key)?.[1];
    expect(SecretBox.fromEnv(fallback)).not.toBeNull();
    expect(base.services.worker.environment.GPUBATCH_SECRET_KEY).toBeUndefined();
    expect(JSON.stringify(base.services.worker.environment)).not.toContain(key);
  });
});

describe('the worker as the GPU profile starts it', () => {
  const workerId = `compose-gpu-${process.pid}`;
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(testEnv().redisUrl);
  });
  afterAll(() => redis.disconnect());

  it('finds the GPUs nvidia-smi lists, and its health check passes', async () => {
    const { command: [node, entry], environment } = gpuWorker();
    expect(node).toBe('node');
    const probePort = await LocalCluster.freePort();
    const metricsPort = await LocalCluster.freePort();
    const child = spawn(process.execPath, [resolve(ROOT, entry)], {
      env: {
        ...environment,
        // Outside Docker: this test's services stand in for the compose ones, the stub for the host's nvidia-smi.
        DATABASE_URL: testEnv().databaseUrl,
        REDIS_URL: testEnv().redisUrl,
        // No API here to join: the unauthenticated dev mode (the join itself is tested in worker-auth.test.ts).
        WORKER_JOIN_TOKEN: '',
        WORKER_STATE_DIR: resolve(tmpdir(), `gpubatch-compose-${process.pid}`),
        WORKER_ID: workerId,
        PROBE_PORT: String(probePort),
        // Compose's metrics port, moved: other runs on this machine may hold 9465.
        METRICS_PORT: String(metricsPort),
        METRICS_HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        PATH: `${resolve(ROOT, 'test/fixtures/gpu')}${delimiter}${process.env.PATH}`,
      },
      stdio: 'inherit',
    });
    const exited = new Promise((done) => child.on('exit', done));
    try {
      const joined = await waitFor('the worker to join', async () => {
        const json = await redis.get(RedisKeys.worker(workerId));
        return json ? (JSON.parse(json) as WorkerDescriptor) : undefined;
      });
      expect(joined.gpus.map((g) => [g.index, g.uuid, g.model])).toEqual([
        [0, 'GPU-11111111-1111-1111-1111-111111111111', 'NVIDIA A100-SXM4-80GB'],
        [1, 'GPU-22222222-2222-2222-2222-222222222222', 'NVIDIA A100-SXM4-80GB'],
      ]);
      expect(await runHealthCheck(base.services.worker.healthcheck.test, probePort)).toBe(0);
      const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('gpubatch_worker_running_attempts 0');
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    // Drained on SIGTERM, so it left the pool; the probe went with it.
    expect(await redis.get(RedisKeys.worker(workerId))).toBeNull();
    expect(await runHealthCheck(base.services.worker.healthcheck.test, probePort)).not.toBe(0);
  });
});
