import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { createRedis, JobIds, QueueNames, RedisKeys, type DispatchPayload, type WorkerEvent } from '#libs/queue';
import { LocalCluster, type ClusterProcess } from '../../scripts/lib/local-cluster.js';
import { Outbox } from '../../apps/worker/src/reporter/outbox.js';
import { encodeRecord, segmentName, type AttemptReport } from '../../apps/worker/src/reporter/outbox-segment.js';
import { dispatchPayload } from '../support/dispatch-payload.js';
import { keptReports, segmentFiles } from '../support/outbox-on-disk.js';
import { testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

jest.setTimeout(90_000);

/**
 * The worker outbox's segment log on real files and real processes: reports
 * put together share one write and one fdatasync, a restart gets back every
 * acknowledged report (after a SIGKILL mid-write too), a segment cut short or
 * damaged loses only what was never whole, and recorded reports leave the disk.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const running = (jobId: string): AttemptReport => ({
  type: 'attempt-running', jobId, attempt: 1, workerId: 'w1', containerId: `c-${jobId}`, startedAt: '2026-12-02T00:00:00.000Z',
});

let dir: string;

beforeEach(() => {
  dir = path.join(mkdtempSync(path.join(tmpdir(), 'gpubatch-segments-')), 'outbox');
});

afterEach(() => {
  rmSync(path.dirname(dir), { recursive: true, force: true });
});

describe('the outbox segment log', () => {
  it('writes reports put together with one fdatasync into one segment, and a restart reads them back in order', async () => {
    const outbox = new Outbox(dir);
    await outbox.open();
    const ids = Array.from({ length: 20 }, (_, i) => `job-${i}.1.running`);
    const entries = await Promise.all(ids.map((id) => outbox.put(id, running(id))));
    expect(outbox.syncs).toBe(1);
    expect(new Set(entries.map((e) => e.segment)).size).toBe(1);
    expect(segmentFiles(dir)).toEqual([segmentName(entries[0].segment)]);
    // The same id again is the report already kept, not a second line.
    expect(await outbox.put(ids[3], running('other'))).toBe(entries[3]);
    await outbox.close();

    const again = new Outbox(dir);
    await again.open();
    expect(again.list().map((e) => e.id)).toEqual(ids);
    expect(again.list()[3].event).toEqual(running(ids[3]));
    await again.close();
  });

  it('forgets recorded reports on disk, deletes segments left with none, and moves the few still kept forward', async () => {
    const outbox = new Outbox(dir, { segmentBytes: 1500 });
    await outbox.open();
    const kept: string[] = [];
    for (let round = 0; round < 8; round++) {
      const entries = await Promise.all([0, 1, 2, 3].map((k) => outbox.put(`r${round}-${k}`, running(`r${round}-${k}`))));
      // The scheduler records all but the first report of each round.
      for (const e of entries.slice(1)) outbox.remove(e);
      kept.push(entries[0].id);
    }
    await waitFor('the recorded ids written', () => keptReports(dir).length === kept.length);
    expect(keptReports(dir).map((r) => r.id)).toEqual(kept);
    expect(outbox.list().map((e) => e.id)).toEqual(kept);
    // Rotated many times over; only segments holding a kept report are left.
    const holding = new Set(outbox.list().map((e) => segmentName(e.segment)));
    await waitFor('dead segments deleted', () => segmentFiles(dir).every((f) => holding.has(f)));
    expect(segmentFiles(dir).length).toBeLessThanOrEqual(2);

    for (const e of outbox.list()) outbox.remove(e);
    await outbox.close();
    const again = new Outbox(dir);
    await again.open();
    expect(again.size).toBe(0);
    expect(segmentFiles(dir)).toEqual([]);
    await again.close();
  });

  it('drops the end of a segment a crash cut short, keeps the whole lines of a damaged one and sets it aside, and reads the older layout', async () => {
    mkdirSync(dir, { recursive: true });
    const line = (seq: number, id: string) => encodeRecord({ v: 2, seq, id, event: running(id) });
    // Segment 1: two whole reports, one recorded, then a batch whose write the crash cut short.
    writeFileSync(path.join(dir, segmentName(1)), line(3, 'a') + line(4, 'b') + encodeRecord({ v: 2, done: ['b'] }) + line(5, 'cut').slice(0, 40));
    // Segment 2: a line damaged in the middle (one byte flipped), whole lines around it.
    writeFileSync(path.join(dir, segmentName(2)), line(6, 'c') + line(7, 'bad').replace('"bad"', '"bab"') + line(8, 'd'));
    // The one-file-per-report layout of earlier versions, and one of its writes cut short.
    writeFileSync(path.join(dir, `${String(1).padStart(12, '0')}.old.json`), JSON.stringify({ v: 1, id: 'old', event: running('old') }));
    writeFileSync(path.join(dir, `${String(2).padStart(12, '0')}.half.json.tmp`), '{"v":1,');

    const outbox = new Outbox(dir);
    await outbox.open();
    expect(outbox.list().map((e) => e.id)).toEqual(['old', 'a', 'c', 'd']);
    expect(outbox.tornBytes).toBe(40);
    expect(outbox.unreadable).toEqual([path.join(dir, segmentName(2))]);
    // Compacted: what is kept is in one new segment; the damaged file is left aside for an operator.
    expect(readdirSync(dir).sort()).toEqual([`${segmentName(2)}.unreadable`, segmentName(3)]);
    expect(keptReports(dir).map((r) => r.id)).toEqual(['old', 'a', 'c', 'd']);
    // New reports come after the kept ones.
    const next = await outbox.put('e', running('e'));
    expect(next.seq).toBeGreaterThan(8);
    await outbox.close();
  });

  it('gives back every acknowledged report after the writing process is killed with SIGKILL mid-write', async () => {
    // A process that puts reports as fast as it can, 25 per turn, and prints each id once put() resolved.
    const outboxModule = path.join(ROOT, 'dist/apps/worker/src/reporter/outbox.js');
    const script = `
      const { Outbox } = await import(${JSON.stringify(outboxModule)});
      const outbox = new Outbox(${JSON.stringify(dir)});
      await outbox.open();
      for (let n = 0; ; n += 25) {
        await Promise.all(Array.from({ length: 25 }, async (_, k) => {
          const id = 'j' + (n + k) + '.1.exited';
          await outbox.put(id, { type: 'attempt-running', jobId: 'j' + (n + k), attempt: 1, workerId: 'w', containerId: 'x'.repeat(300), startedAt: 't' });
          process.stdout.write(id + '\\n');
        }));
      }`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await waitFor('a few hundred reports acknowledged', () => out.split('\n').length > 400, 30_000);
    child.kill('SIGKILL');
    await exited;
    const acknowledged = out.split('\n').filter((l) => l.endsWith('.exited'));

    const outbox = new Outbox(dir);
    await outbox.open();
    const ids = new Set(outbox.list().map((e) => e.id));
    expect(acknowledged.filter((id) => !ids.has(id))).toEqual([]);
    // Whole or absent: every report read back is the one written.
    for (const e of outbox.list()) expect(e.event).toMatchObject({ jobId: e.id.replace('.1.exited', ''), containerId: 'x'.repeat(300) });
    expect(outbox.unreadable).toEqual([]);
    await outbox.close();
  });
});

describe('a worker killed with SIGKILL while reporting', () => {
  let redis: Redis;
  let events: Queue<WorkerEvent>;
  let cluster: LocalCluster;
  let workerId: string;
  let stateDir: string;
  const jobs: DispatchPayload[] = [];

  const reportIds = () => jobs.flatMap((j) => [JobIds.event(j.jobId, 1, 'running'), JobIds.event(j.jobId, 1, 'exited')]);
  async function queued(): Promise<string[]> {
    const ids = reportIds();
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.exists(`bull:${QueueNames.events}:${id}`);
    const replies = (await pipeline.exec()) ?? [];
    return ids.filter((_, i) => replies[i]?.[1] === 1);
  }

  async function startWorkerProcess(name: string): Promise<ClusterProcess> {
    const since = Date.now();
    const proc = cluster.start('worker', {
      WORKER_ID: workerId, WORKER_RUNTIME: 'simulated', WORKER_VCPUS: '64', WORKER_MEMORY_MIB: '65536', WORKER_GPUS: 'none',
      WORKER_MAX_CONCURRENT_JOBS: '40', WORKER_HEARTBEAT_MS: '200', WORKER_STATE_DIR: stateDir,
    }, name);
    await waitFor(`${name} to join`, async () => {
      if (proc.child.exitCode !== null) throw new Error(`${name} exited:\n${proc.output.join('')}`);
      const raw = await redis.get(RedisKeys.worker(workerId));
      return raw !== null && (JSON.parse(raw) as { startedAt?: number }).startedAt! >= since;
    }, 30_000);
    return proc;
  }

  beforeAll(() => {
    redis = createRedis(testEnv().redisUrl, 'outbox-segments-test');
    events = new Queue<WorkerEvent>(QueueNames.events, { connection: redis });
  });

  afterAll(async () => {
    await events.close();
    await redis.quit();
  });

  beforeEach(() => {
    workerId = `segments-${randomUUID().slice(0, 8)}`;
    stateDir = mkdtempSync(path.join(tmpdir(), 'gpubatch-segments-worker-'));
    cluster = new LocalCluster({ REDIS_URL: testEnv().redisUrl, LOG_LEVEL: 'warn' });
    jobs.length = 0;
  });

  afterEach(async () => {
    await cluster.stop(20_000);
    for (const id of reportIds()) await events.remove(id).catch(() => undefined);
    await new Queue(QueueNames.dispatch(workerId), { connection: redis }).obliterate({ force: true });
    await new Queue(QueueNames.control(workerId), { connection: redis }).obliterate({ force: true });
    await redis.del(RedisKeys.worker(workerId));
    await redis.hdel(RedisKeys.workerPools, workerId);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('sends every report it had acknowledged again after a restart, from segments its reports shared', async () => {
    const first = await startWorkerProcess('worker-1');
    const dispatch = new Queue<DispatchPayload>(QueueNames.dispatch(workerId), { connection: redis });
    for (let i = 0; i < 120; i++) jobs.push(dispatchPayload({ environment: { SIM_DURATION_MS: String((i * 37) % 400) } }));
    await dispatch.addBulk(jobs.map((job) => ({ name: 'attempt', data: job, opts: { jobId: JobIds.dispatch(job.jobId, 1) } })));
    // Nobody records the reports: they stay in the events queue and in the outbox. Killed while they still flow.
    await waitFor('reports flowing', async () => (await queued()).length >= 60, 30_000);
    first.child.kill('SIGKILL');
    await first.exited;
    await dispatch.close();
    // On the queue means added, and a report is added only once its outbox write was synced.
    const acknowledged = await queued();
    expect(acknowledged.length).toBeGreaterThanOrEqual(60);

    const outboxDir = path.join(stateDir, 'outbox');
    const onDisk = new Set(keptReports(outboxDir).map((r) => r.id));
    expect(acknowledged.filter((id) => !onDisk.has(id))).toEqual([]);
    // Shared files: far fewer segments than reports (one file per report before).
    expect(segmentFiles(outboxDir).length).toBeLessThan(onDisk.size / 10);

    // Redis loses them; the restarted worker (same id, same disk) sends every one again.
    for (const id of acknowledged) await events.remove(id);
    expect(await queued()).toEqual([]);
    await startWorkerProcess('worker-2');
    await waitFor('every acknowledged report sent again', async () => {
      const back = new Set(await queued());
      return acknowledged.every((id) => back.has(id));
    }, 30_000);
    const exits = (await Promise.all(acknowledged.filter((id) => id.endsWith('.exited')).map((id) => events.getJob(id))))
      .map((job) => job!.data);
    for (const exit of exits) expect(exit).toMatchObject({ type: 'attempt-exited', workerId, end: { kind: 'exited', exitCode: 0 } });
    expect(existsSync(outboxDir)).toBe(true);
  });
});
