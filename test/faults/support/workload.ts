import type pg from 'pg';
import type { Api } from './client.js';
import type { Rng } from './rng.js';

export const QUEUES = { cpu: 'fault-cpu', gpu: 'fault-gpu', probe: 'fault-probe' } as const;
export const DEFINITION = 'fault-sh';
/** Sleeps Ref::sleep seconds, then exits 3 unless this is attempt Ref::okfrom or later. */
export const COMMAND = ['sh', '-c', 'sleep Ref::sleep; [ "$GPUBATCH_JOB_ATTEMPT" -ge Ref::okfrom ] || exit 3'];

export type JobKind = 'cpu' | 'gpu' | 'array' | 'dependency' | 'timeout' | 'failing-retried' | 'failing-final';

export interface Accepted { jobId: string; kind: JobKind; submittedAt: number; timeoutSeconds?: number }

/** Queues and the one definition the mix uses. */
export async function provision(api: Api, image: string): Promise<void> {
  const must = async (path: string, body: unknown) => {
    const r = await api('POST', path, body);
    if (r.status !== 201) throw new Error(`POST ${path} -> ${r.status} ${JSON.stringify(r.body)}`);
  };
  await must('/api/v1/job-queues', { name: QUEUES.cpu, priority: 10, pools: ['fault'] });
  await must('/api/v1/job-queues', { name: QUEUES.gpu, priority: 20, pools: ['fault'] });
  await must('/api/v1/job-queues', { name: QUEUES.probe, priority: 100, pools: ['fault-probe'] });
  await must('/api/v1/job-definitions', {
    name: DEFINITION, image, command: COMMAND, parameters: { sleep: '1', okfrom: '1' },
    resources: { vcpus: 0.5, memoryMiB: 64, gpus: 0 },
  });
}

const sleepParam = (s: number) => s.toFixed(1);

/**
 * Keeps about `target` jobs in flight (not terminal) with a mixed stream:
 * CPU and GPU (1-2) jobs sleeping 0.5-5 s, small arrays, dependencies,
 * jobs whose timeout is shorter than their sleep, and jobs that exit 3 and
 * are retried (some succeed on attempt 2, some fail for good).
 */
export class Workload {
  readonly accepted = new Map<string, Accepted>();
  /** Submits that got no 2xx (API down, Postgres down...): not accepted, so not owed. */
  rejected = 0;
  private running = false;
  private loop: Promise<void> | undefined;
  private inflight = 0;

  constructor(private readonly api: Api, private readonly pool: pg.Pool, private readonly rng: Rng, private readonly target: number) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        const [{ n }] = (await this.pool.query(`SELECT count(*)::int AS n FROM jobs WHERE status NOT IN ('SUCCEEDED', 'FAILED')`)).rows;
        const missing = Math.min(40, this.target - n);
        if (missing > 0) await Promise.all(Array.from({ length: Math.ceil(missing / 2) }, () => this.submitOne()));
      } catch {
        // Postgres or the API is down: the next round tries again.
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  private async submit(kind: JobKind, body: Record<string, unknown>, timeoutSeconds?: number): Promise<string | undefined> {
    try {
      const r = await this.api('POST', '/api/v1/jobs', { definition: DEFINITION, ...body });
      if (r.status === 201 && r.body?.jobId) {
        this.accepted.set(r.body.jobId, { jobId: r.body.jobId, kind, submittedAt: Date.now(), timeoutSeconds });
        return r.body.jobId;
      }
      this.rejected++;
    } catch {
      this.rejected++;
    }
    return undefined;
  }

  private async submitOne(): Promise<void> {
    const rng = this.rng;
    const n = ++this.inflight;
    const roll = rng.next();
    const name = `f${n}`;
    if (roll < 0.35) {
      await this.submit('cpu', { name, queue: QUEUES.cpu, parameters: { sleep: sleepParam(rng.between(0.5, 5)), okfrom: '1' } });
    } else if (roll < 0.55) {
      const gpus = rng.chance(0.6) ? 1 : 2;
      await this.submit('gpu', {
        name, queue: QUEUES.gpu, parameters: { sleep: sleepParam(rng.between(0.5, 5)), okfrom: '1' },
        overrides: { resources: { gpus, gpuModel: 'A100' } },
      });
    } else if (roll < 0.65) {
      const gpu = rng.chance(0.4);
      await this.submit('array', {
        name, queue: gpu ? QUEUES.gpu : QUEUES.cpu, array: { size: rng.int(2, 5) },
        parameters: { sleep: sleepParam(rng.between(0.5, 3)), okfrom: '1' },
        ...(gpu ? { overrides: { resources: { gpus: 1 } } } : {}),
      });
    } else if (roll < 0.75) {
      const first = await this.submit('dependency', { name: `${name}a`, queue: QUEUES.cpu, parameters: { sleep: sleepParam(rng.between(0.5, 3)), okfrom: '1' } });
      if (first) {
        const gpu = rng.chance(0.5);
        await this.submit('dependency', {
          name: `${name}b`, queue: gpu ? QUEUES.gpu : QUEUES.cpu, dependsOn: [{ jobId: first }],
          parameters: { sleep: sleepParam(rng.between(0.5, 3)), okfrom: '1' }, ...(gpu ? { overrides: { resources: { gpus: 1 } } } : {}),
        });
      }
    } else if (roll < 0.83) {
      // Sleeps well past timeout + grace: an attempt nobody stops shows up as a broken timeout.
      const timeoutSeconds = rng.int(2, 3);
      const gpu = rng.chance(0.5);
      await this.submit('timeout', {
        name, queue: gpu ? QUEUES.gpu : QUEUES.cpu, timeoutSeconds, parameters: { sleep: '15', okfrom: '1' },
        ...(gpu ? { overrides: { resources: { gpus: 1 } } } : {}),
      }, timeoutSeconds);
    } else if (roll < 0.95) {
      await this.submit('failing-retried', {
        name, queue: QUEUES.cpu, retryStrategy: { attempts: 3 }, parameters: { sleep: sleepParam(rng.between(0.5, 2)), okfrom: '2' },
      });
    } else {
      await this.submit('failing-final', {
        name, queue: QUEUES.cpu, retryStrategy: { attempts: 2 }, parameters: { sleep: sleepParam(rng.between(0.5, 2)), okfrom: '99' },
      });
    }
  }
}
