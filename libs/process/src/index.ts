import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { ConfigError, EnvReader } from '#libs/config';
import { startMetricsServer } from '#libs/metrics';

/**
 * Runs a process's start function and stops it cleanly on SIGTERM/SIGINT.
 * A configuration error ends the process at once with a message naming the
 * variable; any other start-up failure is printed and exits 1. With
 * `PROBE_PORT` set, `GET /health/live` on 127.0.0.1 answers 200 once the
 * process has started (and its event loop still turns), for container
 * health checks. With `METRICS_PORT` set and a `metrics` registry given,
 * `GET /metrics` on METRICS_HOST (default 127.0.0.1):METRICS_PORT serves it
 * for Prometheus (docs/metrics.md).
 */
export async function runMain(name: string, start: () => Promise<() => Promise<void>>, options: { metrics?: Registry } = {}): Promise<void> {
  let stop: () => Promise<void>;
  let probe: Server | undefined;
  let metrics: Server | undefined;
  try {
    const env = new EnvReader(process.env);
    const probePort = env.int('PROBE_PORT', 0, 0, 65_535);
    const metricsPort = options.metrics ? env.int('METRICS_PORT', 0, 0, 65_535) : 0;
    const metricsHost = env.string('METRICS_HOST', '127.0.0.1');
    stop = await start();
    if (probePort) probe = await startProbe(name, probePort);
    if (metricsPort) metrics = await startMetricsServer(options.metrics!, metricsPort, metricsHost);
  } catch (error) {
    console.error(error instanceof ConfigError ? error.message : `${name} failed to start: ${(error as Error).stack ?? error}`);
    process.exit(1);
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.error(`${name}: ${signal} received, shutting down`);
    probe?.close();
    metrics?.close();
    stop().then(
      () => process.exit(0),
      (error) => {
        console.error(`${name}: unclean shutdown: ${(error as Error).stack ?? error}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

/** Loopback only: a probe is for the container's own health check, never for the network. */
async function startProbe(name: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const live = req.method === 'GET' && req.url === '/health/live';
    res.writeHead(live ? 200 : 404, { 'content-type': 'application/json' });
    res.end(live ? JSON.stringify({ status: 'ok', process: name }) : '{"error":"NOT_FOUND"}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return server;
}
