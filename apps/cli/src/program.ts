import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline/promises';
import { Command, CommanderError, Option } from 'commander';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { ApiClient } from './api-client.js';
import { loadStoredConfig, normalizeEndpoint, resolveConfig, saveConfig } from './cli-config.js';
import { ApiRequestError, CliError, EXIT, UsageError } from './cli-errors.js';
import { bashCompletion, zshCompletion, type CommandSpec } from './completion.js';
import { OUTPUT_FORMATS, render, type OutputFormat } from './output.js';
import { buildSubmitBody } from './submit-body.js';
import { submitInChunks, type BatchReply, type EntryResult } from './submit-batch.js';
import {
  definitionsTable, describeJob, isFinished, jobExitCode, jobsTable, progressLine, queuesTable, usageTable, workersGrid,
  type Definition, type JobDetail, type JobSummary, type Queue, type Worker,
} from './views.js';

/** Where the command layer writes; tests of the core never need it, the process passes its own streams. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];
const JOB_STATUSES = ['SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING', 'RUNNING', 'SUCCEEDED', 'FAILED'];

/** How often `--wait` and `--watch` ask the API again (GPUBATCH_POLL_MS, for tests). */
function pollMs(io: Io): number {
  const n = Number(io.env.GPUBATCH_POLL_MS);
  return Number.isInteger(n) && n >= 50 ? n : 1000;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs the CLI on `argv` (process.argv shape) and resolves with the exit
 * code. Every failure is one line on stderr, `gpubatch: <message>`.
 */
export async function run(argv: string[], io: Io): Promise<number> {
  let exitCode: number = EXIT.OK;
  const program = buildProgram(io, (code) => { exitCode = code; });
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with code 0.
      return error.exitCode === 0 ? 0 : EXIT.USAGE;
    }
    if (error instanceof CliError) {
      io.err(`gpubatch: ${error.message}\n`);
      return error.exitCode;
    }
    io.err(`gpubatch: unexpected error: ${(error as Error).stack ?? error}\n`);
    return EXIT.REFUSED;
  }
}

export function buildProgram(io: Io, setExit: (code: number) => void): Command {
  const program = new Command('gpubatch')
    .description('Submit, watch and account for batch jobs on a gpubatch cluster')
    .version(VERSION)
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });

  const format = (cmd: Command): OutputFormat => cmd.optsWithGlobals().output as OutputFormat;
  const client = async () => new ApiClient(resolveConfig(io.env, await loadStoredConfig(io.env)));
  const print = (cmd: Command, data: unknown, table: () => string) => io.out(render(format(cmd), data, table));

  program.command('login')
    .description('Check an endpoint and API key, and store them in the config dir (mode 0600)')
    .option('--endpoint <url>', 'the API, e.g. http://localhost:3000 (default: GPUBATCH_ENDPOINT or the stored one)')
    .option('--api-key <key>', 'the API key (default: GPUBATCH_API_KEY, else read from stdin)')
    .action(async (opts, cmd: Command) => {
      const stored = await loadStoredConfig(io.env);
      const endpoint = opts.endpoint ?? io.env.GPUBATCH_ENDPOINT ?? stored?.endpoint;
      if (!endpoint) throw new UsageError('login needs --endpoint <url>');
      const apiKey = opts.apiKey ?? io.env.GPUBATCH_API_KEY ?? (await readKey());
      if (!apiKey) throw new UsageError('login needs an API key: --api-key <key>, GPUBATCH_API_KEY, or on stdin');
      const config = { endpoint: normalizeEndpoint(endpoint), apiKey };
      const who = await new ApiClient(config).get<{ id: string; roles: { project: string; role: string }[] }>('/api/v1/whoami');
      const file = await saveConfig(config, io.env);
      print(cmd, { endpoint: config.endpoint, id: who.id, roles: who.roles, configFile: file }, () =>
        `Logged in to ${config.endpoint} as ${who.id} (${who.roles.map((r) => `${r.role} in ${r.project}`).join(', ') || 'no roles'}); saved to ${file}\n`);
    });

  program.command('submit')
    .description('Submit a job from a definition, with flags or a job file (YAML or JSON submit body)')
    .argument('[definition]', 'job definition: name or name:revision')
    .option('-f, --file <path>', 'a submit body in YAML or JSON; flags override its fields. Several (YAML documents, or a list) are submitted together through jobs:batch')
    .option('-n, --name <name>', 'job name (default: the definition name)')
    .option('-q, --queue <queue>', 'job queue')
    .option('--project <project>', 'project to bill (default: default)')
    .option('--gpus <n>', 'GPUs per attempt')
    .option('--gpu-model <model>', 'GPU model, e.g. A100 or A100|H100')
    .option('--vcpus <n>', 'vCPUs per attempt')
    .option('--memory <size>', 'memory per attempt: MiB, or 512Mi, 4Gi')
    .option('-p, --parameter <KEY=VALUE>', 'a Ref:: parameter (repeatable)', collect)
    .option('-e, --env <KEY=VALUE>', 'an environment variable (repeatable)', collect)
    .option('--array-size <n>', 'submit an array job of n children')
    .option('--depends-on <jobId>', 'a job that must succeed first (repeatable, or comma-separated)', collect)
    .option('--timeout <duration>', 'per-attempt timeout: seconds, or 90s, 15m, 2h')
    .option('--priority <n>', 'order inside the queue, higher first')
    .option('--tag <KEY=VALUE>', 'a tag (repeatable)', collect)
    .option('--wait', 'wait until the job ends, showing progress; exit with its exit code')
    .option('--follow', 'stream the job\'s logs until it ends; exit with its exit code')
    .action(async (definition: string | undefined, opts, cmd: Command) => {
      const read = opts.file ? await readSubmitFile(opts.file) : undefined;
      if (read?.many) {
        const results = await submitMany(await client(), opts.file, read.bodies.map((b, i) => entryBody(opts.file, i, () => buildSubmitBody(definition, opts, b))), opts);
        for (const r of results) if ('error' in r) io.err(`gpubatch: entry ${r.index}: ${entryMessage(r.error)}\n`);
        print(cmd, results, () => results.map((r) => ('jobId' in r ? `${r.index} ${r.jobId}\n` : '')).join(''));
        if (results.some((r) => 'error' in r)) setExit(EXIT.REFUSED);
        return;
      }
      const body = buildSubmitBody(definition, opts, read?.bodies[0]);
      if (opts.follow && body.array) throw new UsageError('--follow streams one job\'s logs; an array job has many: use --wait, then gpubatch logs <id>:<index>');
      const api = await client();
      const created = await api.post<{ jobId: string; name: string }>('/api/v1/jobs', body);
      if (!opts.wait && !opts.follow) {
        print(cmd, created, () => `${created.jobId}\n`);
        return;
      }
      io.err(`submitted job ${created.jobId} (${created.name})\n`);
      if (opts.follow) await followLogs(api, io, created.jobId, undefined, format(cmd));
      const job = await waitForJob(api, io, created.jobId, !opts.follow);
      print(cmd, job, () => `job ${job.jobId} ${job.status}${job.statusReason ? `: ${job.statusReason}` : ''}\n`);
      setExit(jobExitCode(job));
    });

  program.command('ls')
    .description('List jobs, newest first: ID NAME QUEUE PROJECT STATUS AGE GPUS REASON')
    .option('-q, --queue <queue>', 'only this queue')
    .addOption(new Option('-s, --status <status>', 'only this status').choices(JOB_STATUSES))
    .option('--project <project>', 'only this project')
    .option('--array <jobId>', 'the children of this array job')
    .option('--limit <n>', 'at most this many jobs (1-1000)', '100')
    .option('-w, --watch', 'redraw every few seconds until interrupted')
    .action(async (opts, cmd: Command) => {
      const api = await client();
      const list = () => api.get<{ jobs: JobSummary[] }>('/api/v1/jobs', {
        queue: opts.queue, status: opts.status, project: opts.project, arrayJobId: opts.array, limit: opts.limit,
      });
      for (;;) {
        const { jobs } = await list();
        if (opts.watch && format(cmd) === 'table' && process.stdout.isTTY) io.out('\x1b[H\x1b[2J');
        print(cmd, jobs, () => jobsTable(jobs, new Date()));
        if (!opts.watch) return;
        await sleep(Math.max(pollMs(io), 2000));
        if (!process.stdout.isTTY) io.out('\n');
      }
    });

  program.command('describe')
    .description('A job: status, reason and estimated start, attempts (workers, GPUs, utilisation), timeline, cost')
    .argument('<jobId>')
    .action(async (id: string, _opts, cmd: Command) => {
      const job = await (await client()).get<JobDetail>(`/api/v1/jobs/${encodeURIComponent(id)}`);
      print(cmd, job, () => describeJob(job, new Date()));
    });

  program.command('logs')
    .description("A job's output (the latest attempt by default)")
    .argument('<jobId>')
    .option('-f, --follow', 'stream the output while the container runs, until the attempt ends')
    .option('--attempt <n>', 'this attempt instead of the latest')
    .option('-t, --timestamps', 'prefix each line with its time')
    .action(async (id: string, opts, cmd: Command) => {
      const attempt = opts.attempt === undefined ? undefined : positiveInt('--attempt', opts.attempt);
      const api = await client();
      if (opts.follow) {
        await followLogs(api, io, id, attempt, format(cmd), opts.timestamps);
        return;
      }
      const logs = await api.get<{ lines: { stream: string; at: string; text: string }[] }>(`/api/v1/jobs/${encodeURIComponent(id)}/logs`, { attempt });
      if (format(cmd) !== 'table') return print(cmd, logs, () => '');
      for (const l of logs.lines) (l.stream === 'stderr' ? io.err : io.out)(`${opts.timestamps ? `${l.at} ` : ''}${l.text}\n`);
    });

  for (const verb of ['cancel', 'terminate'] as const) {
    program.command(verb)
      .description(verb === 'cancel' ? 'Cancel jobs that have not started (SUBMITTED, PENDING, RUNNABLE)' : 'Stop jobs wherever they are, killing running containers')
      .argument('<jobId...>')
      .requiredOption('-r, --reason <text>', "why; becomes the job's statusReason")
      .action(async (ids: string[], opts, cmd: Command) => {
        const api = await client();
        const results: unknown[] = [];
        let failed = 0;
        for (const id of ids) {
          try {
            results.push(await api.post(`/api/v1/jobs/${encodeURIComponent(id)}/${verb}`, { reason: opts.reason }));
          } catch (error) {
            if (!(error instanceof CliError) || error.exitCode === EXIT.UNREACHABLE) throw error;
            failed++;
            io.err(`gpubatch: ${verb} ${id}: ${error.message}\n`);
            results.push({ jobId: id, error: error.message });
          }
        }
        print(cmd, results, () => results.map((r: any) => (r.error ? '' : `${r.jobId} ${r.status}${r.stopping ? ' (stopping)' : ''}\n`)).join(''));
        if (failed) setExit(EXIT.REFUSED);
      });
  }

  program.command('workers')
    .description("The workers' GPUs: the job and project holding each, heartbeat age, drain state")
    .action(async (_opts, cmd: Command) => {
      const { workers } = await (await client()).get<{ workers: Worker[] }>('/api/v1/workers');
      print(cmd, workers, () => workersGrid(workers, new Date()));
    });

  program.command('queues')
    .description('Job queues: priority, state, policy, pools')
    .action(async (_opts, cmd: Command) => {
      const { jobQueues } = await (await client()).get<{ jobQueues: Queue[] }>('/api/v1/job-queues');
      print(cmd, jobQueues, () => queuesTable(jobQueues));
    });

  const defs = program.command('defs').description('Job definitions');
  defs.command('register')
    .description('Register a job definition from a YAML or JSON file (same name again = next revision)')
    .requiredOption('-f, --file <path>', 'the definition body')
    .action(async (opts, cmd: Command) => {
      const def = await (await client()).post<Definition>('/api/v1/job-definitions', await readStructured(opts.file));
      print(cmd, def, () => `${def.name}:${def.revision}\n`);
    });
  defs.command('ls')
    .description('List job definitions')
    .option('--name <name>', 'only revisions of this name')
    .action(async (opts, cmd: Command) => {
      const { jobDefinitions } = await (await client()).get<{ jobDefinitions: Definition[] }>('/api/v1/job-definitions', { name: opts.name });
      print(cmd, jobDefinitions, () => definitionsTable(jobDefinitions));
    });

  program.command('usage')
    .description('Billed usage and cost, grouped; GPU-hours include the idle ones (allocated, under 5% busy)')
    .option('--from <date>', 'start (inclusive), ISO 8601; default the start of this month (UTC)')
    .option('--to <date>', 'end (exclusive), ISO 8601; default now')
    .option('-g, --group-by <keys>', 'comma-separated: project, queue, definition, pool, gpuModel, day, tag:<key>')
    .option('--csv', 'CSV, as the API writes it')
    .action(async (opts, cmd: Command) => {
      const api = await client();
      const query = { from: opts.from, to: opts.to, groupBy: opts.groupBy };
      if (opts.csv) {
        io.out(await api.text('/api/v1/usage', query, 'text/csv'));
        return;
      }
      const report = await api.get('/api/v1/usage', query);
      print(cmd, report, () => usageTable(report));
    });

  program.command('completion')
    .description('Print a shell completion script: eval "$(gpubatch completion bash)"')
    .addArgument(new Command().createArgument('<shell>', 'bash or zsh').choices(['bash', 'zsh']))
    .action((shell: 'bash' | 'zsh') => {
      const spec = commandSpec(program);
      io.out(shell === 'bash' ? bashCompletion(spec) : zshCompletion(spec));
    });

  return program;
}

/** The commander tree as completion sees it. */
export function commandSpec(cmd: Command): CommandSpec {
  return {
    name: cmd.name(),
    flags: cmd.options.flatMap((o) => [o.short, o.long].filter((f): f is string => !!f)),
    subcommands: cmd.commands.map(commandSpec),
  };
}

/**
 * Polls the job until it ends; prints a progress line on stderr each time
 * it moves (an array: n of N done).
 */
async function waitForJob(api: ApiClient, io: Io, id: string, showProgress: boolean): Promise<JobDetail> {
  let last = '';
  for (;;) {
    const job = await api.get<JobDetail>(`/api/v1/jobs/${encodeURIComponent(id)}`);
    const line = progressLine(job);
    if (showProgress && line !== last) io.err(`${line}\n`);
    last = line;
    if (isFinished(job.status)) return job;
    await sleep(pollMs(io));
  }
}

/** Streams an attempt's output (server-sent events) until it ends: stdout lines to stdout, stderr to stderr. */
async function followLogs(api: ApiClient, io: Io, id: string, attempt: number | undefined, format: OutputFormat, timestamps = false): Promise<void> {
  const query = new URLSearchParams({ follow: 'true', ...(attempt ? { attempt: String(attempt) } : {}) });
  await api.stream(`/api/v1/jobs/${encodeURIComponent(id)}/logs?${query}`, (event) => {
    if (event.event === 'end') return 'stop';
    if (event.event !== 'line') return;
    const line = JSON.parse(event.data) as { stream: string; at: string; text: string };
    // json/yaml: one JSON object per line, so a pipe can read them as they come.
    if (format !== 'table') return io.out(`${JSON.stringify(line)}\n`);
    (line.stream === 'stderr' ? io.err : io.out)(`${timestamps ? `${line.at} ` : ''}${line.text}\n`);
  });
}

/**
 * `submit -f`: one submit body, or several: a YAML file of several documents
 * (`---` between them), or one list (a JSON array). `many` says which.
 */
async function readSubmitFile(file: string): Promise<{ bodies: unknown[]; many: boolean }> {
  const text = await readText(file);
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [];
  const broken = list.find((d) => d.errors.length > 0);
  if (broken) throw new UsageError(`${file} is not valid YAML or JSON: ${broken.errors[0]!.message.split('\n')[0]}`);
  const values = list.map((d) => d.toJS() as unknown);
  if (values.length === 1) return Array.isArray(values[0]) ? { bodies: values[0], many: true } : { bodies: values, many: false };
  return { bodies: values, many: true };
}

/** An entry's body; a usage error in it names the entry. */
function entryBody(file: string, index: number, build: () => object): object {
  try {
    return build();
  } catch (error) {
    if (error instanceof UsageError) throw new UsageError(`${file} entry ${index}: ${error.message}`);
    throw error;
  }
}

/**
 * Several submit bodies through `POST /api/v1/jobs:batch`, up to 1,000 a
 * request; one result per entry. Only one job can be waited for or followed.
 */
async function submitMany(api: ApiClient, file: string, bodies: object[], opts: { wait?: boolean; follow?: boolean }): Promise<EntryResult[]> {
  if (opts.wait || opts.follow) {
    throw new UsageError(`--wait and --follow follow one job, and ${file} holds ${bodies.length} submit bodies: submit them, then use gpubatch ls or describe`);
  }
  if (bodies.length === 0) throw new UsageError(`${file} holds no submit bodies`);
  return submitInChunks(
    bodies,
    (jobs) => api.post<BatchReply>('/api/v1/jobs:batch', { jobs }),
    // A chunk refused whole (too large, say) fails its entries; a refused key or an unreachable API stops everything.
    (error) => (error instanceof ApiRequestError && error.status !== 401 ? { statusCode: error.status, code: error.code, message: error.message } : undefined),
  );
}

/** An entry's error as one line: the API's message, status and code. */
function entryMessage(error: { statusCode: number; code: string; message: string }): string {
  const suffix = `(${error.statusCode} ${error.code})`;
  return error.message.endsWith(suffix) ? error.message : `${error.message} ${suffix}`;
}

async function readText(file: string): Promise<string> {
  try {
    return file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** A YAML or JSON file (JSON is YAML); a missing or malformed file is a usage error naming it. */
async function readStructured(file: string): Promise<unknown> {
  const text = await readText(file);
  try {
    return parseYaml(text);
  } catch (error) {
    throw new UsageError(`${file} is not valid YAML or JSON: ${(error as Error).message.split('\n')[0]}`);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The key from stdin: typed at a prompt, or piped (`echo $KEY | gpubatch login`). */
async function readKey(): Promise<string> {
  if (!process.stdin.isTTY) return (await readStdin()).trim();
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question('API key: ')).trim();
  } finally {
    rl.close();
  }
}

function positiveInt(flag: string, text: string): number {
  if (!/^[1-9][0-9]*$/.test(text)) throw new UsageError(`${flag} must be a positive whole number; got "${text}"`);
  return Number(text);
}

/** The package's version: from the package.json above this file (sources and dist/ sit at different depths). */
export const VERSION = ((): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++, dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
      if (pkg.name === 'gpubatch') return String(pkg.version);
    } catch {
      // no package.json here: look further up
    }
  }
  return 'unknown';
})();
