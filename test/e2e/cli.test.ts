import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DataSource } from 'typeorm';
import { LocalCluster } from '../../scripts/lib/local-cluster.js';
import { runCli, startCli } from '../support/cli-runner.js';
import { openTestDatabase } from '../support/database.js';
import { startCluster, type ApiCall } from '../support/e2e-cluster.js';
import { resetState } from '../support/reset.js';
import { TEST_ADMIN_KEY, testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

/** A command's exit code and stdout. */
function exec(command: string, args: string[], cwd: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

const GPU_STUBS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/gpu');

/**
 * The built `gpubatch` CLI as a subprocess against the API, scheduler and a
 * worker as processes, running real containers on (stub-discovered) GPUs.
 */
describe('end to end: the gpubatch CLI', () => {
  const QUEUE = 'cli';
  const POOL = 'cli';
  const WORKER = 'cli-worker';
  let db: DataSource;
  let cluster: LocalCluster;
  let base: string;
  let call: ApiCall;
  let dir: string;
  let env: Record<string, string>;
  const cli = (args: string[], extra: Record<string, string> = {}, input?: string) => runCli(args, { ...env, ...extra }, input);
  const job = async (id: string) => (await call('GET', `/api/v1/jobs/${id}`)).body;

  beforeAll(async () => {
    db = await openTestDatabase();
    await resetState(db);
    dir = await mkdtemp(path.join(tmpdir(), 'gpubatch-cli-'));
    ({ cluster, base, call } = await startCluster());
    cluster.start('worker', {
      // GPUs found by the stub nvidia-smi, as on a GPU host.
      PATH: `${GPU_STUBS}:${process.env.PATH}`, WORKER_GPUS: 'auto',
      WORKER_ID: WORKER, WORKER_POOL: POOL, WORKER_VCPUS: '2', WORKER_MEMORY_MIB: '1024',
      JOB_NETWORK_MODE: 'none', JOB_STOP_GRACE_SECONDS: '1',
    });
    await waitFor('the worker to join', async () => (await call('GET', '/api/v1/workers')).body.workers.some(
      (w: { workerId: string; state: string }) => w.workerId === WORKER && w.state === 'ACTIVE'), 30_000, 100);
    expect((await call('POST', '/api/v1/job-queues', { name: QUEUE, priority: 1, pools: [POOL] })).status).toBe(201);
    env = { GPUBATCH_ENDPOINT: base, GPUBATCH_API_KEY: TEST_ADMIN_KEY, GPUBATCH_POLL_MS: '200', HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'config') };
  }, 150_000);

  afterAll(async () => {
    await cluster?.stop();
    await db?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('login checks the key and stores endpoint and key readable by the owner only; later commands use them', async () => {
    const xdg = path.join(dir, 'login-config');
    const login = await runCli(['login', '--endpoint', base, '--api-key', TEST_ADMIN_KEY], { HOME: dir, XDG_CONFIG_HOME: xdg });
    expect(login.stderr).toBe('');
    expect(login.code).toBe(0);
    expect(login.stdout).toContain('as key:testadmin');
    const file = path.join(xdg, 'gpubatch', 'config.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ endpoint: base, apiKey: TEST_ADMIN_KEY });

    const queues = await runCli(['queues', '-o', 'json'], { HOME: dir, XDG_CONFIG_HOME: xdg });
    expect(queues.code).toBe(0);
    expect(JSON.parse(queues.stdout).map((q: { name: string }) => q.name)).toContain(QUEUE);
    // The environment overrides the stored key.
    const overridden = await runCli(['queues'], { HOME: dir, XDG_CONFIG_HOME: xdg, GPUBATCH_API_KEY: 'gpb_wrong_' + 'x'.repeat(43) });
    expect(overridden.code).toBe(1);

    const refused = await runCli(['login', '--endpoint', base, '--api-key', 'gpb_nobody_' + 'y'.repeat(43)], { HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'refused') });
    expect(refused.code).toBe(1);
    await expect(stat(path.join(dir, 'refused', 'gpubatch', 'config.json'))).rejects.toThrow();
  });

  it('a bad key gets a clear message and exit code 1', async () => {
    const res = await cli(['ls'], { GPUBATCH_API_KEY: 'gpb_wrong_' + 'x'.repeat(43) });
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toMatch(/^gpubatch: the API at http:\/\/127\.0\.0\.1:\d+ refused the API key \(401 UNAUTHENTICATED\)/);
  });

  it('an unreachable endpoint gets a clear message and exit code 3', async () => {
    const port = await LocalCluster.freePort();
    const res = await cli(['ls'], { GPUBATCH_ENDPOINT: `http://127.0.0.1:${port}` });
    expect(res.code).toBe(3);
    expect(res.stderr).toBe(`gpubatch: cannot reach the gpubatch API at http://127.0.0.1:${port}: connection refused (is the API running there?)\n`);
    const none = await runCli(['ls'], { HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'nothing') });
    expect(none.code).toBe(4);
    expect(none.stderr).toContain('no endpoint configured');
  });

  it('registers definitions from YAML and lists them', async () => {
    const image = testEnv().testImage;
    const defs: Record<string, string> = {
      'cli-exit': `name: cli-exit\nimage: ${image}\ncommand: [sh, -c, 'echo "hello $GPUBATCH_JOB_ID"; exit Ref::code']\nparameters: { code: "0" }\nresources: { vcpus: 0.25, memoryMiB: 32 }\n`,
      'cli-slow': `name: cli-slow\nimage: ${image}\ncommand: [sh, -c, 'echo first; sleep Ref::wait; echo second >&2']\nparameters: { wait: "4" }\nresources: { vcpus: 0.25, memoryMiB: 32, gpus: 1 }\n`,
    };
    for (const [name, yaml] of Object.entries(defs)) {
      await writeFile(path.join(dir, `${name}.yaml`), yaml);
      const res = await cli(['defs', 'register', '-f', path.join(dir, `${name}.yaml`)]);
      expect(res.stderr).toBe('');
      expect(res.stdout).toBe(`${name}:1\n`);
    }
    const ls = await cli(['defs', 'ls']);
    expect(ls.code).toBe(0);
    expect(ls.stdout.split('\n')[0]).toMatch(/^NAME\s+REVISION\s+STATUS\s+RESOURCES\s+IMAGE$/);
    expect(ls.stdout).toMatch(/cli-slow\s+1\s+ACTIVE\s+1 GPU, 0\.25 vCPU, 32 MiB/);

    const broken = await cli(['defs', 'register', '-f', path.join(dir, 'missing.yaml')]);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('cannot read');
  });

  it('submit --wait shows progress, --follow streams the output, and both exit with the job\'s exit code', async () => {
    const ok = await cli(['submit', 'cli-exit', '-q', QUEUE, '--wait']);
    expect(ok.stderr).toMatch(/submitted job [0-9a-f-]{36} \(cli-exit\)\n/);
    expect(ok.stderr).toMatch(/: SUCCEEDED/);
    expect(ok.stdout).toMatch(/^job [0-9a-f-]{36} SUCCEEDED/);
    expect(ok.code).toBe(0);

    const failed = await cli(['submit', 'cli-exit', '-q', QUEUE, '-p', 'code=3', '--name', 'three', '--wait', '-o', 'json']);
    expect(failed.code).toBe(3);
    const body = JSON.parse(failed.stdout);
    expect(body).toMatchObject({ name: 'three', status: 'FAILED', statusReason: 'Essential container exited with code 3' });
    expect(body.attempts[0].exitCode).toBe(3);

    const followed = await cli(['submit', 'cli-exit', '-q', QUEUE, '-p', 'code=4', '--follow']);
    expect(followed.code).toBe(4);
    const followedId = /submitted job ([0-9a-f-]{36})/.exec(followed.stderr)![1];
    expect(followed.stdout).toBe(`hello ${followedId}\njob ${followedId} FAILED: Essential container exited with code 4\n`);

    const badFlag = await cli(['submit', 'cli-exit', '-q', QUEUE, '--memory', 'lots']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toBe('gpubatch: --memory takes MiB, or a size such as 512Mi or 4Gi; got "lots"\n');
    const badQueue = await cli(['submit', 'cli-exit', '-q', 'no-such-queue']);
    expect(badQueue.code).toBe(1);
    expect(badQueue.stderr).toContain('JOB_QUEUE_NOT_FOUND');
  });

  it('submit -f job.yaml: an array job shows n of N done and exits 0 when every child succeeded', async () => {
    const file = path.join(dir, 'array.yaml');
    await writeFile(file, `name: cli-array\nqueue: ${QUEUE}\ndefinition: cli-exit\narray: { size: 3 }\ntags: { team: cli }\n`);
    const res = await cli(['submit', '-f', file, '--wait']);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/array [0-9a-f-]{36}: 3 of 3 done \(SUCCEEDED 3\)/);
    const id = /array ([0-9a-f-]{36})/.exec(res.stderr)![1];
    expect((await job(id)).tags).toEqual({ team: 'cli' });
    const children = await cli(['ls', '--array', id, '-o', 'json']);
    expect(JSON.parse(children.stdout).map((j: { jobId: string }) => j.jobId).sort()).toEqual([0, 1, 2].map((i) => `${id}:${i}`));
  });

  it('ls and describe say why a job waits; cancel fails it with the reason given', async () => {
    const submitted = await cli(['submit', 'cli-exit', '-q', QUEUE, '--gpus', '8', '--name', 'too-big', '--project', 'default']);
    expect(submitted.code).toBe(0);
    const id = submitted.stdout.trim();
    const reason = 'UNSCHEDULABLE: no worker in pools [cli] has 8 GPU (largest: 2)';
    await waitFor('the scheduler to give its reason', async () => (await job(id)).statusReason === reason, 30_000, 100);

    const ls = await cli(['ls', '-q', QUEUE, '--status', 'RUNNABLE']);
    expect(ls.code).toBe(0);
    const [header, row, ...rest] = ls.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+NAME\s+QUEUE\s+PROJECT\s+STATUS\s+AGE\s+GPUS\s+REASON$/);
    expect(row).toMatch(new RegExp(`^${id}\\s+too-big\\s+cli\\s+default\\s+RUNNABLE\\s+\\d+[smhd]\\s+8\\s+UNSCHEDULABLE: no worker`));
    expect(rest).toEqual([]);
    const yaml = await cli(['ls', '-q', QUEUE, '--status', 'RUNNABLE', '-o', 'yaml']);
    expect(yaml.stdout).toContain(`jobId: ${id}`);

    const described = await cli(['describe', id]);
    expect(described.code).toBe(0);
    expect(described.stdout).toContain(`Reason:       ${reason}\n`);
    expect(described.stdout).toContain('Resources:    8 GPU, 0.25 vCPU, 32 MiB\n');
    expect(described.stdout).toMatch(/Timeline:\n {2}\S+ {2}SUBMITTED {2}Job submitted\n/);

    const cancelled = await cli(['cancel', id, '--reason', 'asked for too much']);
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toBe(`${id} FAILED\n`);
    expect(await job(id)).toMatchObject({ status: 'FAILED', statusReason: 'asked for too much' });
    const missing = await cli(['cancel', 'no-such-job', '--reason', 'x']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('JOB_NOT_FOUND');
    const noReason = await cli(['cancel', id]);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain("required option '-r, --reason <text>' not specified");
  });

  it('logs -f prints lines while the container runs; workers shows the GPU it holds; terminate stops a job', async () => {
    const id = (await cli(['submit', 'cli-slow', '-q', QUEUE, '--name', 'slow'])).stdout.trim();
    const follower = startCli(['logs', id, '-f'], env);
    await waitFor('the first line', () => follower.stdout().includes('first\n'), 60_000, 25);
    // The container is still sleeping: the line came live, not from the stored copy. (The scheduler may
    // not have recorded RUNNING yet: the worker's live copy can be ahead of its report.)
    expect(['STARTING', 'RUNNING']).toContain((await job(id)).status);
    expect(follower.child.exitCode).toBeNull();

    const workers = await cli(['workers']);
    expect(workers.code).toBe(0);
    const lines = workers.stdout.split('\n');
    expect(lines[0]).toMatch(/^WORKER\s+POOL\s+STATE\s+HEARTBEAT\s+CPU\s+MEM\(MiB\)\s+GPU\s+MODEL\s+JOB\s+PROJECT$/);
    expect(workers.stdout).toMatch(new RegExp(`^${WORKER}\\s+cli\\s+ACTIVE\\s+\\d+s ago\\s+0\\.25/2\\s+32/1024\\s+0\\s+NVIDIA A100-SXM4-80GB\\s+${id}\\s+default$`, 'm'));
    expect(workers.stdout).toMatch(/^\s+1\s+NVIDIA A100-SXM4-80GB\s+free$/m);
    expect(workers.stdout).toContain('GPUs 1/2 allocated');

    expect(await follower.exited).toBe(0);
    expect(follower.stdout()).toBe('first\n');
    expect(follower.stderr()).toBe('second\n');
    const stored = await cli(['logs', id, '--attempt', '1']);
    expect(stored.stdout).toBe('first\n');

    const long = (await cli(['submit', 'cli-slow', '-q', QUEUE, '-p', 'wait=120', '--name', 'long'])).stdout.trim();
    await waitFor('the long job to run', async () => (await job(long)).status === 'RUNNING', 60_000, 100);
    const terminated = await cli(['terminate', long, '-r', 'not needed']);
    expect(terminated.code).toBe(0);
    expect(terminated.stdout).toMatch(new RegExp(`^${long} (RUNNING \\(stopping\\)|FAILED)\n$`));
    await waitFor('the long job to stop', async () => (await job(long)).status === 'FAILED', 60_000, 100);
    expect((await job(long)).statusReason).toBe('not needed');
  });

  it('usage --csv groups cost and GPU-hours by project and day', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const res = await cli(['usage', '--group-by', 'project,day', '--csv']);
    expect(res.code).toBe(0);
    const [header, ...rows] = res.stdout.trimEnd().split('\r\n');
    expect(header.split(',').slice(0, 4)).toEqual(['project', 'day', 'currency', 'attempts']);
    expect(header.split(',')).toContain('gpuHours');
    const mine = rows.find((r) => r.startsWith(`default,${today},`));
    expect(mine).toBeDefined();
    // Jobs that ran: 2 from --wait, 1 from --follow, 3 array children, the slow one and the long one.
    expect(Number(mine!.split(',')[3])).toBe(8);
    const table = await cli(['usage', '-g', 'project']);
    expect(table.stdout.split('\n')[0]).toMatch(/^PROJECT\s+ATTEMPTS\s+GPU_HOURS/);
    expect(table.stdout).toMatch(/^TOTAL\s+8\s/m);
  });

  it('submit -f with several bodies (YAML documents, a JSON array) submits them through jobs:batch, 1,000 a request, with a result per entry', async () => {
    const yaml = path.join(dir, 'several.yaml');
    await writeFile(yaml, 'name: multi-a\ndefinition: cli-exit\n---\nname: multi-b\ndefinition: cli-exit\nparameters: { code: "0" }\n---\nname: multi-c\ndefinition: no-such-def\n');
    const several = await cli(['submit', '-f', yaml, '-q', QUEUE, '--tag', 'batch=yes']);
    expect(several.stderr).toBe('gpubatch: entry 2: job definition no-such-def has no ACTIVE revision (404 DEFINITION_NOT_FOUND)\n');
    expect(several.code).toBe(1);
    const lines = several.stdout.trimEnd().split('\n');
    expect(lines).toEqual([expect.stringMatching(/^0 [0-9a-f-]{36}$/), expect.stringMatching(/^1 [0-9a-f-]{36}$/)]);
    const [a, b] = lines.map((l) => l.split(' ')[1]!);
    expect([(await job(a!)).name, (await job(b!)).name, (await job(b!)).tags]).toEqual(['multi-a', 'multi-b', { batch: 'yes' }]);
    expect((await cli(['submit', '-f', yaml, '-q', QUEUE, '--wait'])).code).toBe(2);

    // 1,001 entries: the first 1,000 in one request, the last in a second (the API takes at most 1,000 a request).
    expect((await call('POST', '/api/v1/pools', { name: 'cli-parked' })).status).toBe(201);
    expect((await call('POST', '/api/v1/job-queues', { name: 'cli-parked', priority: 1, pools: ['cli-parked'] })).status).toBe(201);
    const bodies = Array.from({ length: 1001 }, (_, i) => ({ name: `bulk-${i}`, definition: 'cli-exit', queue: i === 1000 ? 'no-such-queue' : 'cli-parked' }));
    const json = path.join(dir, 'bulk.json');
    await writeFile(json, JSON.stringify(bodies));
    const bulk = await cli(['submit', '-f', json, '-o', 'json']);
    expect(bulk.code).toBe(1);
    expect(bulk.stderr).toBe('gpubatch: entry 1000: job queue no-such-queue does not exist (404 JOB_QUEUE_NOT_FOUND)\n');
    const results = JSON.parse(bulk.stdout) as { index: number; jobId?: string; name?: string }[];
    expect(results).toHaveLength(1001);
    expect(results.slice(0, 1000).every((r, i) => r.index === i && r.name === `bulk-${i}` && /^[0-9a-f-]{36}$/.test(r.jobId!))).toBe(true);
    expect(results[1000]).toMatchObject({ index: 1000, error: { code: 'JOB_QUEUE_NOT_FOUND' } });
    const [{ n }] = await db.query(`SELECT count(*)::int AS n FROM jobs WHERE queue = 'cli-parked'`);
    expect(n).toBe(1000);
  });

  it('is the package\'s bin: npx gpubatch from the checkout, and installed globally', async () => {
    const root = path.resolve(GPU_STUBS, '../../..');
    const version = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')).version;
    const npx = await exec('npx', ['--no-install', 'gpubatch', '--version'], root);
    expect(npx).toEqual({ code: 0, stdout: `${version}\n` });
    const prefix = path.join(dir, 'global');
    expect((await exec('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', root], dir)).code).toBe(0);
    expect(await exec(path.join(prefix, 'bin', 'gpubatch'), ['--version'], dir)).toEqual({ code: 0, stdout: `${version}\n` });
  });

  it('prints bash and zsh completion that know every command and flag', async () => {
    const bash = await cli(['completion', 'bash']);
    expect(bash.code).toBe(0);
    expect(bash.stdout).toContain('complete -o default -F _gpubatch_complete gpubatch');
    expect(bash.stdout).toMatch(/"submit"\) words="[^"]*--array-size[^"]*--depends-on/);
    expect(bash.stdout).toContain('"defs register") words=');
    const zsh = await cli(['completion', 'zsh']);
    expect(zsh.stdout.split('\n')[0]).toBe('#compdef gpubatch');
    expect(zsh.stdout).toContain('bashcompinit');
  });
});
