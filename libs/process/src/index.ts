import { createServer, type Server } from 'node:http';
import { ConfigError, EnvReader } from '#libs/config';

/**
 * Runs a process's start function and stops it cleanly on SIGTERM/SIGINT.
 * A configuration error ends the process at once with a message naming the
 * variable; any other start-up failure is printed and exits 1. With
 * `PROBE_PORT` set, `GET /health/live` on 127.0.0.1 answers 200 once the
 * process has started (and its event loop still turns), for container
 * health checks.
 */
export async function runMain(name: string, start: () => Promise<() => Promise<void>>): Promise<void> {
  let stop: () => Promise<void>;
  let probe: Server | undefined;
  try {
    const probePort = new EnvReader(process.env).int('PROBE_PORT', 0, 0, 65_535);
    stop = await start();
    if (probePort) probe = await startProbe(name, probePort);
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
