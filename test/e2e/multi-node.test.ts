import { execFileSync } from 'node:child_process';
import type { DataSource } from 'typeorm';
import type { LocalCluster } from '../../scripts/lib/local-cluster.js';
import { openTestDatabase } from '../support/database.js';
import { startCluster, type ApiCall } from '../support/e2e-cluster.js';
import { resetState } from '../support/reset.js';
import { testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Multi-node (gang) jobs through the three built apps: two workers on this
 * machine, one GPU each, in a pool that allows multi-node jobs; the nodes'
 * containers talk over the host network.
 */
describe('end to end: multi-node jobs', () => {
  let db: DataSource;
  let cluster: LocalCluster;
  let call: ApiCall;

  const job = async (id: string) => (await call('GET', `/api/v1/jobs/${encodeURIComponent(id)}`)).body;
  const finished = (id: string) =>
    waitFor(`job ${id} to finish`, async () => {
      const body = await job(id);
      return ['SUCCEEDED', 'FAILED'].includes(body.status) ? body : undefined;
    }, 90_000, 200);
  const logs = async (id: string, attempt?: number) =>
    (await call('GET', `/api/v1/jobs/${encodeURIComponent(id)}/logs${attempt ? `?attempt=${attempt}` : ''}`)).body.lines.map((l: { text: string }) => l.text);
  const submit = async (body: Record<string, unknown>) => {
    const res = await call('POST', '/api/v1/jobs', { queue: 'gang', definition: 'gang-shell', ...body });
    expect(res.status).toBe(201);
    return res.body.jobId as string;
  };

  beforeAll(async () => {
    db = await openTestDatabase();
    await resetState(db);
    ({ cluster, call } = await startCluster());
    expect((await call('POST', '/api/v1/pools', { name: 'gang', prices: { vcpuHour: '0.10', memoryGiBHour: '0.01', gpuHour: '1' } })).status).toBe(201);
    expect((await call('PATCH', '/api/v1/pools/gang/container-policy', { allowMultiNode: true })).body.containerPolicy.allowMultiNode).toBe(true);
    for (const id of ['gang-w1', 'gang-w2']) {
      cluster.start('worker', {
        JOB_STOP_GRACE_SECONDS: '1', WORKER_ID: id, WORKER_POOL: 'gang', WORKER_VCPUS: '1', WORKER_MEMORY_MIB: '512',
        WORKER_GPUS: '[{"model":"A100","memoryMiB":81920}]', JOB_NETWORK_MODE: 'none', WORKER_ADVERTISE_ADDRESS: '127.0.0.1',
      }, id);
    }
    await waitFor('both workers to join', async () => (await call('GET', '/api/v1/workers')).body.workers.filter(
      (w: { workerId: string; state: string }) => w.workerId.startsWith('gang-w') && w.state === 'ACTIVE').length === 2, 30_000, 100);
    expect((await call('POST', '/api/v1/job-queues', { name: 'gang', priority: 10, pools: ['gang'] })).status).toBe(201);
    expect((await call('POST', '/api/v1/job-definitions', {
      name: 'gang-shell', image: testEnv().testImage, command: ['sh', '-c', 'exit 0'], resources: { vcpus: 0.5, memoryMiB: 64, gpus: 1 },
    })).status).toBe(201);
  }, 150_000);

  afterAll(async () => {
    await cluster?.stop();
    await db?.destroy();
  });

  it('refuses node counts outside 2..64 and maps AWS Batch nodeProperties', async () => {
    for (const count of [0, 1, 65]) {
      const res = await call('POST', '/api/v1/jobs', { name: 'bad', queue: 'gang', definition: 'gang-shell', nodes: { count } });
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/nodes\.count must not be (less than 2|greater than 64)/);
    }
    const both = await call('POST', '/api/v1/jobs', { name: 'bad', queue: 'gang', definition: 'gang-shell', nodes: { count: 2 }, array: { size: 2 } });
    expect(both.status).toBe(400);
    // Three nodes, two workers: it can never start, and says so.
    const wide = await submit({
      name: 'wide', nodeProperties: { numNodes: 3, mainNode: 0, nodeRangeProperties: [{ targetNodes: '0:', container: { resourceRequirements: [{ type: 'GPU', value: '1' }] } }] },
    });
    const reason = await waitFor('the wide gang to get a reason', async () => {
      const r = (await job(wide)).statusReason as string;
      return r?.startsWith('UNSCHEDULABLE') ? r : undefined;
    }, 20_000, 200);
    expect(reason).toBe('UNSCHEDULABLE: the job needs 3 workers of one pool in pools [gang] with 1 GPU, 0.5 vCPU, 64 MiB each; the most any pool has is 2');
    const described = await job(wide);
    expect(described.nodeProperties).toMatchObject({ numNodes: 3, mainNode: 0 });
    expect(described.nodeProperties.nodes.map((n: { jobId: string }) => n.jobId)).toEqual([wide, `${wide}:node1`, `${wide}:node2`]);
    expect((await call('POST', `/api/v1/jobs/${wide}/cancel`, { reason: 'too wide' })).status).toBe(200);
    for (const n of described.nodeProperties.nodes) expect((await job(n.jobId)).status).toBe('FAILED');
  });

  it('runs two nodes at once: node 1 reaches MASTER_ADDR:MASTER_PORT and trades a line with node 0', async () => {
    const id = await submit({
      name: 'exchange',
      nodes: { count: 2 },
      overrides: {
        command: ['sh', '-c', [
          'echo "node=$GPUBATCH_NODE_INDEX of $GPUBATCH_NUM_NODES rank=$NODE_RANK nnodes=$NNODES main=$GPUBATCH_MAIN_NODE_ADDR"',
          // The main node answers only once node 1's line is in (stderr is its log; stdout is the connection): with a reply
          // sent first, node 1 could see the reply and the end of the connection before its own line went out.
          `if [ "$NODE_RANK" = 0 ]; then nc -l -p "$MASTER_PORT" -e sh -c 'read line; echo "$line" >&2; echo "hello from main"'; exit $?; fi`,
          // The main node may not listen yet: try for a while.
          'for i in $(seq 1 100); do if echo "hello from node 1" | nc "$MASTER_ADDR" "$MASTER_PORT" 2>/dev/null; then exit 0; fi; sleep 0.2; done; exit 1',
        ].join('\n')],
      },
    });
    const main = await finished(id);
    expect(main).toMatchObject({ status: 'SUCCEEDED', statusReason: 'Essential container exited with code 0' });
    const node1 = await finished(`${id}:node1`);
    expect(node1.status).toBe('SUCCEEDED');
    // One node per worker, each with its own attempt and GPU.
    expect(new Set([main.attempts[0].workerId, node1.attempts[0].workerId])).toEqual(new Set(['gang-w1', 'gang-w2']));
    expect(await logs(id)).toEqual(['node=0 of 2 rank=0 nnodes=2 main=127.0.0.1', 'hello from node 1']);
    // The main node's end moves node 1 to SUCCEEDED at once; node 1's own exit report, which carries its output, container
    // and start, may be recorded after that.
    const node1Logs = await waitFor(`${id}:node1's own report to be recorded`, async () => {
      const lines = await logs(`${id}:node1`);
      return lines.length > 0 ? lines : undefined;
    }, 20_000, 100);
    expect(node1Logs).toEqual(['node=1 of 2 rank=1 nnodes=2 main=127.0.0.1', 'hello from main']);
    expect((await job(`${id}:node1`)).attempts[0]).toMatchObject({ containerId: expect.any(String), startedAt: expect.any(String) });
    expect(main.nodeProperties.nodes.map((n: { status: string }) => n.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
  });

  it('waits while a worker is busy, saying so, and starts all nodes once it frees', async () => {
    const blocker = await submit({ name: 'blocker', overrides: { command: ['sh', '-c', 'sleep 4'] } });
    await waitFor('the blocker to run', async () => (await job(blocker)).status === 'RUNNING', 30_000, 100);
    // Long enough for both nodes to start before the main node's end stops the other.
    const id = await submit({ name: 'waits', nodes: { count: 2 }, timeoutSeconds: 300, overrides: { command: ['sh', '-c', 'sleep 3'] } });
    const reason = await waitFor('the gang to say what it waits for', async () => {
      const r = (await job(id)).statusReason as string | null;
      return r?.startsWith('GANG:') ? r : undefined;
    }, 20_000, 100);
    expect(reason).toMatch(/^GANG: 1 of 2 nodes with 1 GPU, 0\.5 vCPU, 64 MiB available in pool gang; /);
    expect((await job(id)).status).toBe('RUNNABLE');
    const [b, main, node1] = [await finished(blocker), await finished(id), await finished(`${id}:node1`)];
    expect(main.status).toBe('SUCCEEDED');
    expect(node1.status).toBe('SUCCEEDED');
    // A node's status follows the main node's end at once; its own start is recorded from its own reports, which may come after.
    for (const node of [main, node1]) {
      const startedAt = await waitFor(`${node.jobId}'s start to be recorded`, async () => ((await job(node.jobId)).attempts[0]?.startedAt as string | null) ?? undefined, 20_000, 100);
      expect(Date.parse(startedAt)).toBeGreaterThanOrEqual(Date.parse(b.attempts[0].stoppedAt));
    }
  });

  it('stops every node when one is killed, and retries the job as a whole', async () => {
    const id = await submit({
      name: 'killed', nodes: { count: 2 }, retryStrategy: { attempts: 2 },
      overrides: { command: ['sh', '-c', 'if [ "$GPUBATCH_JOB_ATTEMPT" = 1 ]; then sleep 60; fi; echo "attempt $GPUBATCH_JOB_ATTEMPT done"'] },
    });
    const running = await waitFor('both nodes to run', async () => {
      const nodes = [await job(id), await job(`${id}:node1`)];
      return nodes.every((n) => n.status === 'RUNNING' && n.attempts[0]?.containerId) ? nodes : undefined;
    }, 30_000, 100);
    execFileSync('docker', ['kill', running[1].attempts[0].containerId]);

    const main = await finished(id);
    const node1 = await finished(`${id}:node1`);
    expect(main.status).toBe('SUCCEEDED');
    expect(node1.status).toBe('SUCCEEDED');
    expect(main.attempts).toHaveLength(2);
    expect(node1.attempts).toHaveLength(2);
    expect(node1.attempts[0]).toMatchObject({ status: 'FAILED', exitCode: 137 });
    expect(main.attempts[0]).toMatchObject({ status: 'FAILED', reason: 'Stopped: node 1 ended (Essential container exited with code 137)' });
    expect(main.events.map((e: { reason: string }) => e.reason)).toContain(
      'Attempt 1 failed on node 1 (Essential container exited with code 137); retrying all nodes, attempt 2 of 2');
    expect(await logs(id, 2)).toEqual(['attempt 2 done']);
    // Each node's attempts are billed on their own, settled. A node's own exit report may come after the
    // main node's end finished the job: its attempt is billed then, from its real start to its real stop.
    const billed = () => db.query(
      `SELECT job_id, count(*)::int AS n, bool_or(running) AS running FROM usage WHERE job_id = ANY($1) GROUP BY job_id ORDER BY job_id`, [[id, `${id}:node1`]]);
    await waitFor('both attempts of both nodes billed', async () => (await billed()).every((r: { n: number }) => r.n === 2), 20_000);
    expect(await billed()).toEqual([{ job_id: id, n: 2, running: false }, { job_id: `${id}:node1`, n: 2, running: false }]);
  });
});
