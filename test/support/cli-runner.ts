import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The built CLI, as `npm run build` leaves it (the package's bin). */
export const CLI_ENTRY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/apps/cli/src/main.js');

export interface CliRun {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts `gpubatch <args>` as a process with only `env` (and PATH, HOME): nothing of the test's own environment leaks in. */
export function startCli(args: string[], env: Record<string, string>, input?: string): CliRun {
  const child = spawn(process.execPath, [CLI_ENTRY, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (input !== undefined) child.stdin!.end(input);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Runs `gpubatch <args>` to its end: its exit code and output. */
export async function runCli(args: string[], env: Record<string, string>, input?: string, timeoutMs = 90_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = startCli(args, env, input);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), timeoutMs);
  const code = await run.exited;
  clearTimeout(timer);
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}
