import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, chmodSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { LocalCluster } from '../../../scripts/lib/local-cluster.js';

const PG_BIN = process.env.FAULTS_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a command as the postgres user when we are root (initdb refuses root), as ourselves otherwise. */
function asPostgres(args: string[]): { status: number | null; output: string } {
  const root = process.getuid?.() === 0;
  const res = root ? spawnSync('runuser', ['-u', 'postgres', '--', ...args], { encoding: 'utf8' }) : spawnSync(args[0], args.slice(1), { encoding: 'utf8' });
  return { status: res.status, output: `${res.stdout ?? ''}${res.stderr ?? ''}` };
}

/**
 * A PostgreSQL 15 instance of the fault suite's own, in a temporary data
 * directory on a free port, trust auth on 127.0.0.1: the suite stops and
 * starts it at will without touching the machine's shared cluster.
 */
export class OwnPostgres {
  readonly dataDir: string;
  constructor(readonly dir: string, readonly port: number) {
    this.dataDir = `${dir}/pgdata`;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/gpubatch_faults`;
  }

  async init(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    chmodSync(this.dir, 0o777);
    const init = asPostgres([`${PG_BIN}/initdb`, '-D', this.dataDir, '--auth=trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    if (init.status !== 0) throw new Error(`initdb failed:\n${init.output}`);
    await this.start();
    const create = asPostgres([`${PG_BIN}/psql`, '-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '-qc', 'CREATE DATABASE gpubatch_faults']);
    if (create.status !== 0) throw new Error(`create database failed:\n${create.output}`);
  }

  async start(): Promise<void> {
    const opts = `-p ${this.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300`;
    const res = asPostgres([`${PG_BIN}/pg_ctl`, '-D', this.dataDir, '-l', `${this.dataDir}/server.log`, '-o', opts, '-w', '-t', '60', 'start']);
    if (res.status !== 0) throw new Error(`pg_ctl start failed:\n${res.output}`);
  }

  /** `pg_ctl stop -m fast`: clients are disconnected, the server is gone until start(). */
  async stop(): Promise<void> {
    const res = asPostgres([`${PG_BIN}/pg_ctl`, '-D', this.dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']);
    if (res.status !== 0) throw new Error(`pg_ctl stop failed:\n${res.output}`);
  }

  async destroy(): Promise<void> {
    asPostgres([`${PG_BIN}/pg_ctl`, '-D', this.dataDir, '-m', 'immediate', '-w', 'stop']);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A redis-server child process of the suite's own: freeze = SIGSTOP/SIGCONT, restart = SIGKILL and start again empty. */
export class OwnRedis {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn('redis-server', [
      '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--maxmemory-policy', 'noeviction', '--daemonize', 'no', '--protected-mode', 'no',
    ], { stdio: 'ignore' });
    this.child = child;
    this.exited = new Promise((resolve) => child.on('exit', () => resolve()));
    const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      for (let i = 0; i < 100; i++) {
        try {
          if (probe.status !== 'ready') await probe.connect();
          if ((await probe.ping()) === 'PONG') return;
        } catch {
          await sleep(100);
        }
      }
      throw new Error(`redis-server on port ${this.port} did not answer`);
    } finally {
      probe.disconnect();
    }
  }

  async kill(): Promise<void> {
    this.child?.kill('SIGCONT');
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** Killed and started again on the same port, empty (no persistence): a restart with a flush. */
  async restartEmpty(): Promise<void> {
    await this.kill();
    await this.start();
  }

  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }
}

/**
 * A TCP proxy in the test process between one worker and Redis: cut() takes
 * the worker off Redis (existing connections are reset, or blackholed: bytes
 * are dropped while the sockets stay open), heal() lets it back.
 */
export class RedisProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private mode: 'open' | 'reset' | 'blackhole' = 'open';
  port = 0;

  constructor(private readonly upstreamPort: number) {}

  async start(): Promise<number> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
    return this.port;
  }

  private accept(client: Socket): void {
    client.on('error', () => undefined);
    if (this.mode === 'reset') {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(this.upstreamPort, '127.0.0.1');
    upstream.on('error', () => undefined);
    const pair = { client, upstream };
    this.pairs.add(pair);
    // Forward only while open; in blackhole mode bytes are read and dropped, so the peer sees a silent network.
    client.on('data', (d) => { if (this.mode === 'open') upstream.write(d); });
    upstream.on('data', (d) => { if (this.mode === 'open') client.write(d); });
    const close = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close);
    upstream.on('close', close);
  }

  cut(mode: 'reset' | 'blackhole'): void {
    this.mode = mode;
    if (mode === 'reset') for (const p of [...this.pairs]) { p.client.resetAndDestroy(); p.upstream.destroy(); }
  }

  /** Back on the network; connections that were blackholed are reset (their streams lost bytes and cannot resume). */
  heal(): void {
    const wasBlackhole = this.mode === 'blackhole';
    this.mode = 'open';
    if (wasBlackhole) for (const p of [...this.pairs]) { p.client.resetAndDestroy(); p.upstream.destroy(); }
  }

  async close(): Promise<void> {
    for (const p of [...this.pairs]) { p.client.destroy(); p.upstream.destroy(); }
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** A port nothing listens on: the one helper the local cluster uses too. */
export const freePort = (): Promise<number> => LocalCluster.freePort();
