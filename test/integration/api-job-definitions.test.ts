import { randomUUID } from 'node:crypto';
import { ApiHarness } from '../support/api-harness.js';

describe('job definitions API', () => {
  let api: ApiHarness;
  beforeAll(async () => { api = await ApiHarness.start(); });
  afterAll(async () => { await api.close(); });

  const body = (name: string, over: Record<string, unknown> = {}) => ({
    name, image: 'gpubatch-test:latest', command: ['sh', '-c', 'echo hi'], environment: { A: '1' },
    resources: { vcpus: 1.5, memoryMiB: 512, gpus: 1 }, timeoutSeconds: 60, retryStrategy: { attempts: 3 }, ...over,
  });

  it('registers revisions 1 and 2 under one name and describes them', async () => {
    const name = `def-${randomUUID().slice(0, 8)}`;
    const first = await api.post('/api/v1/job-definitions', body(name));
    const second = await api.post('/api/v1/job-definitions', body(name, { image: 'other:2' }));
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(first.body).toMatchObject({ name, revision: 1, status: 'ACTIVE', resources: { vcpus: 1.5, memoryMiB: 512, gpus: 1 }, retryStrategy: { attempts: 3 } });
    expect(second.body).toMatchObject({ name, revision: 2, image: 'other:2' });

    expect((await api.get(`/api/v1/job-definitions/${name}`)).body.revision).toBe(2);
    expect((await api.get(`/api/v1/job-definitions/${name}/1`)).body.image).toBe('gpubatch-test:latest');
    const list = await api.get(`/api/v1/job-definitions?name=${name}`);
    expect(list.body.jobDefinitions.map((d: { revision: number }) => d.revision)).toEqual([2, 1]);
  });

  it('gives concurrent registrations of a new name distinct revisions', async () => {
    const name = `race-${randomUUID().slice(0, 8)}`;
    const replies = await Promise.all(Array.from({ length: 8 }, () => api.post('/api/v1/job-definitions', body(name))));
    expect(replies.map((r) => r.status)).toEqual(Array(8).fill(201));
    expect(replies.map((r) => r.body.revision).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('deregisters a revision; the latest ACTIVE one is then the previous', async () => {
    const name = `dereg-${randomUUID().slice(0, 8)}`;
    await api.post('/api/v1/job-definitions', body(name));
    await api.post('/api/v1/job-definitions', body(name));
    const gone = await api.request('DELETE', `/api/v1/job-definitions/${name}/2`);
    expect(gone).toMatchObject({ status: 200, body: { revision: 2, status: 'INACTIVE' } });
    expect((await api.get(`/api/v1/job-definitions/${name}`)).body.revision).toBe(1);
  });

  it('keeps evaluateOnExit rules, actions upper-cased', async () => {
    const name = `rules-${randomUUID().slice(0, 8)}`;
    const res = await api.post('/api/v1/job-definitions', body(name, {
      retryStrategy: { attempts: 3, evaluateOnExit: [{ onExitCode: '3', action: 'exit' }, { onReason: 'CannotPull*', action: 'RETRY' }] },
    }));
    expect(res.body.retryStrategy).toEqual({ attempts: 3, evaluateOnExit: [{ onExitCode: '3', action: 'EXIT' }, { onReason: 'CannotPull*', action: 'RETRY' }] });
  });

  it('makes multi-node definitions: nodes is stored and described, every submit of one is a gang, and bad nodes get a 400 naming the field', async () => {
    const name = `gang-${randomUUID().slice(0, 8)}`;
    const made = await api.post('/api/v1/job-definitions', body(name, { nodes: { count: 2, topologyKey: 'rack', resources: { gpus: 2 } } }));
    expect([made.status, made.body.message]).toEqual([201, undefined]);
    // nodes.resources restates resources (both are per node): the definition keeps one shape.
    expect(made.body).toMatchObject({ nodes: { count: 2, topologyKey: 'rack' }, resources: { vcpus: 1.5, memoryMiB: 512, gpus: 2 } });
    expect((await api.post('/api/v1/job-definitions', body(`single-${name}`))).body.nodes).toBeNull();

    const queue = `q-${name}`;
    expect((await api.post('/api/v1/job-queues', { name: queue, priority: 1 })).status).toBe(201);
    const plain = await api.post('/api/v1/jobs', { name: 'g', queue, definition: name, parameters: { p: 'x' } });
    expect(plain.status).toBe(201);
    const main = (await api.get(`/api/v1/jobs/${plain.body.jobId}`)).body;
    expect(main.nodeProperties).toMatchObject({ numNodes: 2, mainNode: 0, topologyKey: 'rack' });
    expect(main.nodeProperties.nodes.map((n: { jobId: string }) => n.jobId)).toEqual([plain.body.jobId, `${plain.body.jobId}:node1`]);
    expect(main.parameters).toEqual({ p: 'x' });
    expect((await api.get(`/api/v1/jobs/${plain.body.jobId}:node1`)).body.resources).toMatchObject({ gpus: 2 });
    // The submit's nodes changes the count (and what each node asks for), as on a single-node definition.
    const wider = await api.post('/api/v1/jobs', { name: 'g3', queue, definition: name, nodes: { count: 3, resources: { gpus: 1 } } });
    const wide = (await api.get(`/api/v1/jobs/${wider.body.jobId}`)).body;
    expect([wide.nodeProperties.numNodes, wide.nodeProperties.topologyKey, wide.resources.gpus]).toEqual([3, 'rack', 1]);

    const refused: [Record<string, unknown>, string][] = [
      [{ nodes: { count: 1 } }, 'nodes.count must not be less than 2'],
      [{ nodes: { count: 65 } }, 'nodes.count must not be greater than 64'],
      [{ nodes: 'two' }, 'nodes must be an object'],
      [{ nodes: { count: 2, topologyKey: 'no spaces' } }, 'nodes.topologyKey must be a worker label key'],
      [{ nodes: { count: 2, resources: { gpus: -1 } } }, 'nodes.resources.gpus must not be less than 0'],
      [{ nodes: { count: 2 }, preemptible: true }, 'preemptible must not be true with nodes'],
    ];
    for (const [over, message] of refused) {
      const res = await api.post('/api/v1/job-definitions', body(`bad-${name}`, over));
      expect({ over, status: res.status, message: res.body.message }).toEqual({ over, status: 400, message: expect.stringContaining(message) });
    }
    const array = await api.post('/api/v1/jobs', { name: 'a', queue, definition: name, array: { size: 2 } });
    expect([array.status, array.body.message]).toEqual([400, `array: job definition ${name}:1 is multi-node (nodes), and a multi-node job cannot be an array job`]);
  });

  it('answers 404 with a code for an unknown definition', async () => {
    const res = await api.get('/api/v1/job-definitions/no-such-definition/3');
    expect(res).toEqual({ status: 404, body: { statusCode: 404, code: 'DEFINITION_NOT_FOUND', message: 'job definition no-such-definition:3 does not exist' } });
  });

  it.each([
    ['negative vcpus', { resources: { vcpus: -1, memoryMiB: 512 } }, 'resources.vcpus must not be less than 0.001'],
    ['zero memory', { resources: { vcpus: 1, memoryMiB: 0 } }, 'resources.memoryMiB must not be less than 1'],
    ['fractional gpus', { resources: { vcpus: 1, memoryMiB: 1, gpus: 1.5 } }, 'resources.gpus must be an integer number'],
    ['negative gpus', { resources: { vcpus: 1, memoryMiB: 1, gpus: -2 } }, 'resources.gpus must not be less than 0'],
    ['missing resources', { resources: undefined }, 'resources is required'],
    ['resources not an object', { resources: 'big' }, 'resources must be an object'],
    ['empty image', { image: '' }, 'image must not be empty'],
    ['image with spaces', { image: 'a b' }, 'image must not contain whitespace'],
    ['command as a string', { command: 'echo hi' }, 'command must be an array of strings'],
    ['command with numbers', { command: ['echo', 3] }, 'command must be an array of strings'],
    ['unknown field', { privileged: true }, 'property privileged should not exist'],
    ['name with spaces', { name: 'my job' }, 'name must be 1-128 letters, digits, hyphens or underscores'],
    ['name too long', { name: 'x'.repeat(129) }, 'name must be 1-128 letters, digits, hyphens or underscores'],
    ['reserved environment name', { environment: { GPUBATCH_JOB_ID: 'x' } }, 'environment must be an object'],
    ['environment value not a string', { environment: { A: 1 } }, 'environment must be an object'],
    ['retry attempts 0', { retryStrategy: { attempts: 0 } }, 'retryStrategy.attempts must not be less than 1'],
    ['retry attempts 11', { retryStrategy: { attempts: 11 } }, 'retryStrategy.attempts must not be greater than 10'],
    ['zero timeout', { timeoutSeconds: 0 }, 'timeoutSeconds must not be less than 1'],
    ['a retry rule with no action', { retryStrategy: { attempts: 2, evaluateOnExit: [{ onExitCode: '1' }] } }, 'retryStrategy.evaluateOnExit.0.action is required (RETRY or EXIT)'],
    ['a retry rule with an unknown action', { retryStrategy: { attempts: 2, evaluateOnExit: [{ onExitCode: '1', action: 'MAYBE' }] } }, 'retryStrategy.evaluateOnExit.0.action must be RETRY or EXIT'],
    ['a retry rule with no pattern', { retryStrategy: { attempts: 2, evaluateOnExit: [{ action: 'EXIT' }] } }, 'retryStrategy.evaluateOnExit.0.a rule needs at least one of onExitCode, onReason, onStatusReason'],
    ['a non-numeric exit code pattern', { retryStrategy: { attempts: 2, evaluateOnExit: [{ onExitCode: 'abc', action: 'EXIT' }] } }, 'retryStrategy.evaluateOnExit.0.onExitCode must be digits with * or ? wildcards'],
    ['six retry rules', { retryStrategy: { attempts: 2, evaluateOnExit: Array(6).fill({ onExitCode: '1', action: 'EXIT' }) } }, 'retryStrategy.evaluateOnExit must contain no more than 5 elements'],
  ])('rejects %s with 400 naming the field', async (_case, over, message) => {
    const res = await api.post('/api/v1/job-definitions', body('valid-name', over));
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.errors.some((e: string) => e.startsWith(message))).toBe(true);
  });

  it.each([
    ['null body', 'null'],
    ['an array body', '[]'],
    ['a number body', '42'],
  ])('rejects %s with 400', async (_case, raw) => {
    const res = await api.request('POST', '/api/v1/job-definitions', raw, { 'content-type': 'application/json' });
    expect(res.status).toBe(400);
  });

  it('rejects a revision that is not a whole number from 1, with 400 and not 500', async () => {
    for (const revision of ['abc', '0', '-1', '1.5', '99999999999']) {
      expect(await api.get(`/api/v1/job-definitions/x/${revision}`)).toMatchObject({ status: 400, body: { message: 'revision must be a whole number from 1 to 2147483647' } });
    }
    expect((await api.request('DELETE', '/api/v1/job-definitions/x/0')).status).toBe(400);
  });

  it('rejects NUL bytes with 400, not 500', async () => {
    const res = await api.post('/api/v1/job-definitions', body('nul-test', { environment: { A: 'x\u0000y' } }));
    expect(res).toMatchObject({ status: 400, body: { message: 'text must not contain NUL (\\u0000) characters' } });
    expect((await api.get('/api/v1/job-definitions/a%00b')).status).toBe(400);
  });
});
