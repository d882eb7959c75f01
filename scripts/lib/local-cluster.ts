import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Works from the sources (tests) and from dist/ (benchmarks): the built apps always live in dist/.
const DIST = ROOT.endsWith('dist') ? ROOT : path.join(ROOT, 'dist');

export type AppName = 'api' | 'scheduler' | 'worker';

export interface ClusterProcess {
  name: string;
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
}

/**
 * The three built apps as separate OS processes, as they run in production,
 * for end-to-end tests and benchmarks. Needs `npm run build` first.
 */
export class LocalCluster {
  readonly processes: ClusterProcess[] = [];

  constructor(readonly baseEnv: Record<string, string>) {}

  static async freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
      server.on('error', reject);
    });
  }

  start(app: AppName, env: Record<string, string> = {}, name: string = app): ClusterProcess {
    const entry = path.join(DIST, 'apps', app, 'src', 'main.js');
    // BENCH_CPU_PROF_DIR: a V8 CPU profile of each app named in BENCH_CPU_PROF_APPS (default: the scheduler), written at its exit.
    const profiled = process.env.BENCH_CPU_PROF_DIR && (process.env.BENCH_CPU_PROF_APPS ?? 'scheduler').split(',').includes(app);
    const child = spawn(process.execPath, [...(profiled ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF_DIR!] : []), entry], {
      // Workers here run without join tokens (one machine), unless a caller turns worker auth on.
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', GPUBATCH_WORKER_AUTH: 'off', ...this.baseEnv, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    const keep = (chunk: Buffer) => {
      output.push(chunk.toString());
      if (output.length > 500) output.shift();
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const proc = { name, child, output, exited };
    this.processes.push(proc);
    return proc;
  }

  /** Waits until `url` answers 200, or fails with the process's output. */
  static async waitForHttp(url: string, proc: ClusterProcess, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited early:\n${proc.output.join('')}`);
      try {
        if ((await fetch(url)).ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${url} did not answer within ${timeoutMs} ms:\n${proc.output.join('')}`);
  }

  /** SIGTERM to each process, newest first; resolves with each exit code. */
  async stop(timeoutMs = 30_000): Promise<Record<string, number | null>> {
    const codes: Record<string, number | null> = {};
    for (const proc of [...this.processes].reverse()) {
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGTERM');
      const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
      codes[proc.name] = await proc.exited;
      clearTimeout(timer);
    }
    this.processes.length = 0;
    return codes;
  }
}
