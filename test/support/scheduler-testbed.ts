import type { DataSource } from 'typeorm';
import { ApiHarness } from './api-harness.js';
import { openTestDatabase } from './database.js';
import { resetState } from './reset.js';
import { startTestScheduler, WorkerProtocol, type Scheduler } from './scheduler-harness.js';

/**
 * What a scheduler test file needs, its hooks registered: per test, an empty
 * database and Redis, an in-process API and a fake worker's protocol; the
 * schedulers a test starts are stopped after it.
 */
export function schedulerTestbed() {
  let schedulers: Scheduler[] = [];
  const bed = {
    db: undefined as unknown as DataSource,
    api: undefined as unknown as ApiHarness,
    worker: undefined as unknown as WorkerProtocol,
    /** Starts a scheduler replica (stopped after the test). */
    async start(env: Record<string, string> = {}): Promise<Scheduler> {
      const s = await startTestScheduler(env);
      schedulers.push(s);
      return s;
    },
    /** Stops every replica started so far, as a crash or a deploy would. */
    async stopSchedulers(): Promise<void> {
      await Promise.all(schedulers.map((s) => s.stop()));
      schedulers = [];
    },
    async submit(queue: string, definition: string, extra: Record<string, unknown> = {}): Promise<string> {
      const res = await bed.api.post('/api/v1/jobs', { name: 'job', queue, definition, ...extra });
      expect(res.status).toBe(201);
      return res.body.jobId as string;
    },
    async job(id: string) {
      return (await bed.api.get(`/api/v1/jobs/${id}`)).body;
    },
  };
  beforeAll(async () => { bed.db = await openTestDatabase(); });
  beforeEach(async () => {
    await resetState(bed.db);
    bed.api = await ApiHarness.start();
    bed.worker = new WorkerProtocol();
  });
  afterEach(async () => {
    await bed.stopSchedulers();
    await bed.worker.close();
    await bed.api.close();
  });
  afterAll(async () => { await bed.db.destroy(); });
  return bed;
}
