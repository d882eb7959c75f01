import { randomBytes, randomUUID } from 'node:crypto';
import {
  BatchClient, CancelJobCommand, CreateComputeEnvironmentCommand, CreateJobQueueCommand, DeleteJobQueueCommand, DeregisterJobDefinitionCommand,
  DescribeComputeEnvironmentsCommand, DescribeJobDefinitionsCommand, DescribeJobQueuesCommand, DescribeJobsCommand, ListJobsCommand,
  ListTagsForResourceCommand, RegisterJobDefinitionCommand, SubmitJobCommand, TagResourceCommand, TerminateJobCommand, UntagResourceCommand,
  UpdateComputeEnvironmentCommand, UpdateJobQueueCommand,
} from '@aws-sdk/client-batch';
import { ApiHarness } from '../support/api-harness.js';
import { makeKey } from '../support/auth-fixtures.js';
import { TEST_ADMIN_KEY, testEnv } from '../support/test-env.js';

/** The official AWS SDK client pointed at gpubatch, signing with an API key's id and secret. */
function batch(base: string, key: string): BatchClient {
  const [, id, ...secret] = key.split('_');
  return new BatchClient({ endpoint: base, region: 'eu-west-1', maxAttempts: 1, credentials: { accessKeyId: id!, secretAccessKey: secret.join('_') } });
}

/** What an AWS SDK call threw: the exception name the SDK raised, its HTTP status and message. */
async function failure(p: Promise<unknown>): Promise<{ name: string; status: number | undefined; message: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: err.name, status: err.$metadata?.httpStatusCode, message: err.message };
  }
  throw new Error('the call succeeded');
}

describe('the AWS Batch API (official @aws-sdk/client-batch, real API, Postgres, Redis)', () => {
  let api: ApiHarness;
  let admin: BatchClient;
  const s = randomUUID().slice(0, 8);

  beforeAll(async () => {
    api = await ApiHarness.start({ GPUBATCH_SECRET_KEY: randomBytes(32).toString('base64') });
    admin = batch(api.baseUrl, TEST_ADMIN_KEY);
  });

  afterAll(async () => {
    admin?.destroy();
    await api?.close();
  });

  it('maps compute environments to pools, and queues, definitions and jobs to their gpubatch twins, in AWS field names', async () => {
    const ce = await admin.send(new CreateComputeEnvironmentCommand({ computeEnvironmentName: `ce-${s}`, type: 'UNMANAGED', tags: { team: 'ml' } }));
    expect(ce.computeEnvironmentArn).toBe(`arn:aws:batch:local:000000000000:compute-environment/ce-${s}`);
    await admin.send(new UpdateComputeEnvironmentCommand({ computeEnvironment: ce.computeEnvironmentArn, computeResources: { type: 'SPOT' } as never }));
    const [env] = (await admin.send(new DescribeComputeEnvironmentsCommand({ computeEnvironments: [`ce-${s}`] }))).computeEnvironments!;
    expect(env).toMatchObject({ computeEnvironmentName: `ce-${s}`, state: 'ENABLED', status: 'VALID', computeResources: { type: 'SPOT' }, tags: { team: 'ml' } });
    expect((await api.get(`/api/v1/pools/ce-${s}`)).body.capacityType).toBe('SPOT');

    const q = await admin.send(new CreateJobQueueCommand({
      jobQueueName: `q-${s}`, priority: 5, computeEnvironmentOrder: [{ order: 1, computeEnvironment: ce.computeEnvironmentArn }],
    }));
    expect(q.jobQueueArn).toBe(`arn:aws:batch:local:000000000000:job-queue/q-${s}`);
    await admin.send(new UpdateJobQueueCommand({ jobQueue: q.jobQueueArn, priority: 7 }));
    const [queue] = (await admin.send(new DescribeJobQueuesCommand({ jobQueues: [`q-${s}`] }))).jobQueues!;
    expect(queue).toMatchObject({ jobQueueName: `q-${s}`, state: 'ENABLED', priority: 7, computeEnvironmentOrder: [{ order: 1, computeEnvironment: ce.computeEnvironmentArn }] });
    expect((await api.get(`/api/v1/job-queues/q-${s}`)).body).toMatchObject({ priority: 7, pools: [`ce-${s}`] });

    const def = await admin.send(new RegisterJobDefinitionCommand({
      jobDefinitionName: `d-${s}`, type: 'container', parameters: { msg: 'hi' }, tags: { owner: 'a' },
      containerProperties: {
        image: testEnv().testImage, command: ['echo', 'Ref::msg'], environment: [{ name: 'MODE', value: 'train' }],
        resourceRequirements: [{ type: 'VCPU', value: '1' }, { type: 'MEMORY', value: '256' }, { type: 'GPU', value: '1' }],
        linuxParameters: { sharedMemorySize: 64 }, jobRoleArn: 'arn:aws:iam::1:role/ignored',
      },
      retryStrategy: { attempts: 2, evaluateOnExit: [{ onExitCode: '3', action: 'exit' as 'EXIT' }] }, timeout: { attemptDurationSeconds: 600 },
    }));
    expect(def).toMatchObject({ jobDefinitionName: `d-${s}`, revision: 1, jobDefinitionArn: `arn:aws:batch:local:000000000000:job-definition/d-${s}:1` });
    const native = (await api.get(`/api/v1/job-definitions/d-${s}/1`)).body;
    expect(native).toMatchObject({ resources: { vcpus: 1, memoryMiB: 256, gpus: 1 }, containerProperties: { shmSizeMiB: 64 }, timeoutSeconds: 600, environment: { MODE: 'train' } });
    const [described] = (await admin.send(new DescribeJobDefinitionsCommand({ jobDefinitions: [def.jobDefinitionArn!] }))).jobDefinitions!;
    expect(described).toMatchObject({
      status: 'ACTIVE', type: 'container', parameters: { msg: 'hi' }, timeout: { attemptDurationSeconds: 600 },
      retryStrategy: { attempts: 2, evaluateOnExit: [{ onExitCode: '3', action: 'EXIT' }] },
      containerProperties: {
        image: testEnv().testImage, environment: [{ name: 'MODE', value: 'train' }], linuxParameters: { sharedMemorySize: 64 },
        resourceRequirements: [{ type: 'VCPU', value: '1' }, { type: 'MEMORY', value: '256' }, { type: 'GPU', value: '1' }],
      },
    });

    const before = Date.now();
    const sub = await admin.send(new SubmitJobCommand({
      jobName: `j-${s}`, jobQueue: q.jobQueueArn, jobDefinition: `d-${s}`, parameters: { msg: 'hello' }, shareIdentifier: `p-${s}`,
      schedulingPriorityOverride: 9, tags: { run: '1' }, timeout: { attemptDurationSeconds: 120 },
      containerOverrides: { environment: [{ name: 'EXTRA', value: 'x' }], resourceRequirements: [{ type: 'GPU', value: '2' }, { type: 'MEMORY', value: '512' }] },
      retryStrategy: { attempts: 3, evaluateOnExit: [{ onReason: 'CannotPull*', action: 'RETRY' }] },
    }));
    expect(sub.jobArn).toBe(`arn:aws:batch:local:000000000000:job/${sub.jobId}`);
    const [job] = (await admin.send(new DescribeJobsCommand({ jobs: [sub.jobId!, 'no-such-job'] }))).jobs!;
    expect(job).toMatchObject({
      jobId: sub.jobId, jobName: `j-${s}`, jobQueue: q.jobQueueArn, status: 'RUNNABLE', shareIdentifier: `p-${s}`, schedulingPriority: 9,
      jobDefinition: def.jobDefinitionArn, tags: { run: '1' }, timeout: { attemptDurationSeconds: 120 },
      retryStrategy: { attempts: 3, evaluateOnExit: [{ onReason: 'CannotPull*', action: 'RETRY' }] },
      container: {
        command: ['echo', 'hello'], environment: expect.arrayContaining([{ name: 'MODE', value: 'train' }, { name: 'EXTRA', value: 'x' }]),
        resourceRequirements: [{ type: 'VCPU', value: '1' }, { type: 'MEMORY', value: '512' }, { type: 'GPU', value: '2' }],
      },
    });
    expect(job!.createdAt).toBeGreaterThanOrEqual(before - 1000);
    expect(job!.createdAt).toBeLessThanOrEqual(Date.now() + 1000);

    // ListJobs without a status lists RUNNING jobs only, as AWS does; with one, that status; with a filter, any status.
    expect((await admin.send(new ListJobsCommand({ jobQueue: `q-${s}` }))).jobSummaryList).toEqual([]);
    const runnable = (await admin.send(new ListJobsCommand({ jobQueue: `q-${s}`, jobStatus: 'RUNNABLE' }))).jobSummaryList!;
    expect(runnable).toEqual([expect.objectContaining({ jobId: sub.jobId, status: 'RUNNABLE', jobDefinition: def.jobDefinitionArn, shareIdentifier: `p-${s}` })]);
    const second = await admin.send(new SubmitJobCommand({ jobName: `k-${s}`, jobQueue: `q-${s}`, jobDefinition: `d-${s}:1` }));
    const byName = await admin.send(new ListJobsCommand({ jobQueue: `q-${s}`, filters: [{ name: 'JOB_NAME', values: [`J-${s.toUpperCase()}*`] }] }));
    expect(byName.jobSummaryList!.map((j) => j.jobId)).toEqual([sub.jobId]);
    const first = await admin.send(new ListJobsCommand({ jobQueue: `q-${s}`, jobStatus: 'RUNNABLE', maxResults: 1 }));
    expect(first.jobSummaryList!.map((j) => j.jobId)).toEqual([second.jobId]);
    const next = await admin.send(new ListJobsCommand({ jobQueue: `q-${s}`, jobStatus: 'RUNNABLE', maxResults: 1, nextToken: first.nextToken }));
    expect(next.jobSummaryList!.map((j) => j.jobId)).toEqual([sub.jobId]);

    await admin.send(new CancelJobCommand({ jobId: sub.jobId, reason: 'changed my mind' }));
    await admin.send(new TerminateJobCommand({ jobId: second.jobId, reason: 'enough' }));
    const ended = (await admin.send(new DescribeJobsCommand({ jobs: [sub.jobId!, second.jobId!] }))).jobs!;
    expect(ended.map((j) => [j.status, j.statusReason])).toEqual([['FAILED', 'changed my mind'], ['FAILED', 'enough']]);

    await admin.send(new DeregisterJobDefinitionCommand({ jobDefinition: def.jobDefinitionArn }));
    expect((await admin.send(new DescribeJobDefinitionsCommand({ jobDefinitionName: `d-${s}`, status: 'INACTIVE' }))).jobDefinitions).toHaveLength(1);
    expect(await failure(admin.send(new DeleteJobQueueCommand({ jobQueue: `q-${s}` })))).toMatchObject({ name: 'ClientException', status: 400, message: expect.stringContaining('DISABLED') });
    await admin.send(new UpdateJobQueueCommand({ jobQueue: `q-${s}`, state: 'DISABLED' }));
    await admin.send(new DeleteJobQueueCommand({ jobQueue: `q-${s}` }));
    expect((await admin.send(new DescribeJobQueuesCommand({ jobQueues: [`q-${s}`] }))).jobQueues).toEqual([]);
  });

  it('arrays with N_TO_N and SEQUENTIAL dependencies map to gpubatch array jobs', async () => {
    const q = await admin.send(new CreateJobQueueCommand({ jobQueueName: `qa-${s}`, priority: 1 }));
    await admin.send(new RegisterJobDefinitionCommand({
      jobDefinitionName: `da-${s}`, type: 'container',
      containerProperties: { image: testEnv().testImage, command: ['true'], vcpus: 1, memory: 64 },
    }));
    const a = await admin.send(new SubmitJobCommand({ jobName: 'a', jobQueue: q.jobQueueName, jobDefinition: `da-${s}`, arrayProperties: { size: 3 } }));
    const b = await admin.send(new SubmitJobCommand({
      jobName: 'b', jobQueue: q.jobQueueName, jobDefinition: `da-${s}`, arrayProperties: { size: 3 }, dependsOn: [{ jobId: a.jobId, type: 'N_TO_N' }],
    }));
    const c = await admin.send(new SubmitJobCommand({
      jobName: 'c', jobQueue: q.jobQueueName, jobDefinition: `da-${s}`, arrayProperties: { size: 2 }, dependsOn: [{ type: 'SEQUENTIAL' }],
    }));
    const [parent, child, seq] = (await admin.send(new DescribeJobsCommand({ jobs: [b.jobId!, `${b.jobId}:1`, `${c.jobId}:1`] }))).jobs!;
    expect(parent).toMatchObject({ status: 'PENDING', arrayProperties: { size: 3, statusSummary: { PENDING: 3, RUNNING: 0, SUCCEEDED: 0 } } });
    expect(child).toMatchObject({ status: 'PENDING', arrayProperties: { index: 1 }, dependsOn: [{ jobId: `${a.jobId}:1` }] });
    expect(seq).toMatchObject({ dependsOn: [{ jobId: `${c.jobId}:0` }] });
    const children = await admin.send(new ListJobsCommand({ arrayJobId: b.jobId, jobStatus: 'PENDING' }));
    expect(children.jobSummaryList!.map((j) => j.arrayProperties?.index).sort()).toEqual([0, 1, 2]);
    // A mismatched N_TO_N partner is the same 400 the REST API gives, as AWS's ClientException.
    expect(await failure(admin.send(new SubmitJobCommand({
      jobName: 'bad', jobQueue: q.jobQueueName, jobDefinition: `da-${s}`, arrayProperties: { size: 2 }, dependsOn: [{ jobId: a.jobId, type: 'N_TO_N' }],
    })))).toMatchObject({ name: 'ClientException', status: 400, message: expect.stringContaining('N_TO_N needs an array job of size 2') });
  });

  it("maps AWS's volumes, mountPoints and linuxParameters.tmpfs to mounts, and refuses a host path no pool allows", async () => {
    const ce = await admin.send(new CreateComputeEnvironmentCommand({ computeEnvironmentName: `cev-${s}`, type: 'UNMANAGED' }));
    expect((await api.request('PATCH', `/api/v1/pools/cev-${s}/container-policy`, { allowedHostPaths: [`/srv/aws-${s}`] })).status).toBe(200);
    const containerProperties = {
      image: testEnv().testImage, vcpus: 1, memory: 256,
      volumes: [{ name: 'data', host: { sourcePath: `/srv/aws-${s}/in` } }, { name: 'cache' }],
      mountPoints: [{ sourceVolume: 'data', containerPath: '/in', readOnly: true }, { sourceVolume: 'cache', containerPath: '/cache' }],
      linuxParameters: { sharedMemorySize: 32, tmpfs: [{ containerPath: '/scratch', size: 16, mountOptions: ['noexec'] }] },
    };
    const d = await admin.send(new RegisterJobDefinitionCommand({ jobDefinitionName: `dv-${s}`, type: 'container', containerProperties }));
    expect((await api.get(`/api/v1/job-definitions/dv-${s}/1`)).body.containerProperties).toEqual({
      shmSizeMiB: 32,
      mounts: [
        { type: 'host', source: `/srv/aws-${s}/in`, target: '/in', readOnly: true },
        { type: 'volume', source: 'cache', target: '/cache', readOnly: false },
        { type: 'tmpfs', target: '/scratch', sizeMiB: 16 },
      ],
    });
    const [described] = (await admin.send(new DescribeJobDefinitionsCommand({ jobDefinitions: [d.jobDefinitionArn!] }))).jobDefinitions!;
    expect(described!.containerProperties).toMatchObject({
      volumes: [{ name: 'vol0', host: { sourcePath: `/srv/aws-${s}/in` } }, { name: 'cache' }],
      mountPoints: [{ sourceVolume: 'vol0', containerPath: '/in', readOnly: true }, { sourceVolume: 'cache', containerPath: '/cache', readOnly: false }],
      linuxParameters: { sharedMemorySize: 32, tmpfs: [{ containerPath: '/scratch', size: 16 }] },
    });
    const outside = { ...containerProperties, volumes: [{ name: 'data', host: { sourcePath: '/etc' } }, { name: 'cache' }] };
    expect(await failure(admin.send(new RegisterJobDefinitionCommand({ jobDefinitionName: `dv-${s}`, type: 'container', containerProperties: outside }))))
      .toMatchObject({ name: 'ClientException', status: 400, message: expect.stringContaining('mounts[0].source /etc is not under a host path') });
    const dangling = { ...containerProperties, mountPoints: [{ sourceVolume: 'nope', containerPath: '/x' }] };
    expect(await failure(admin.send(new RegisterJobDefinitionCommand({ jobDefinitionName: `dv-${s}`, type: 'container', containerProperties: dangling }))))
      .toMatchObject({ name: 'ClientException', message: expect.stringContaining('mountPoints[0].sourceVolume nope names no entry') });
    expect(ce.computeEnvironmentName).toBe(`cev-${s}`);
  });

  it('maps multinode definitions and nodeOverrides onto gangs; DescribeJobs gives nodeProperties, nodeDetails under <jobId>#<index>, and parameters', async () => {
    const q = await admin.send(new CreateJobQueueCommand({ jobQueueName: `qm-${s}`, priority: 1 }));
    const container = {
      image: testEnv().testImage, command: ['sh', '-c', 'echo Ref::word'], environment: [{ name: 'A', value: '1' }],
      resourceRequirements: [{ type: 'VCPU', value: '0.5' }, { type: 'MEMORY', value: '64' }, { type: 'GPU', value: '1' }],
    };
    // Two ranges with the same container are one shape.
    const def = await admin.send(new RegisterJobDefinitionCommand({
      jobDefinitionName: `dm-${s}`, type: 'multinode', parameters: { word: 'hi' },
      nodeProperties: { numNodes: 2, mainNode: 0, nodeRangeProperties: [{ targetNodes: '0:0', container }, { targetNodes: '1:', container }] },
    } as never));
    const [described] = (await admin.send(new DescribeJobDefinitionsCommand({ jobDefinitions: [def.jobDefinitionArn!] }))).jobDefinitions!;
    expect(described).toMatchObject({
      type: 'multinode',
      nodeProperties: { numNodes: 2, mainNode: 0, nodeRangeProperties: [{ targetNodes: '0:', container: { image: container.image, command: container.command } }] },
    });
    expect(described!.containerProperties).toBeUndefined();
    expect((await api.get(`/api/v1/job-definitions/dm-${s}/1`)).body).toMatchObject({ nodes: { count: 2, topologyKey: null }, resources: { vcpus: 0.5, memoryMiB: 64, gpus: 1 } });

    const sub = await admin.send(new SubmitJobCommand({
      jobName: 'mn', jobQueue: q.jobQueueName, jobDefinition: def.jobDefinitionArn, parameters: { word: 'there' },
      nodeOverrides: { numNodes: 3, nodePropertyOverrides: [{ targetNodes: '0:', containerOverrides: { environment: [{ name: 'B', value: '2' }], resourceRequirements: [{ type: 'GPU', value: '2' }] } }] },
    }));
    const id = sub.jobId!;
    const [main, node0, node2] = (await admin.send(new DescribeJobsCommand({ jobs: [id, `${id}#0`, `${id}#2`] }))).jobs!;
    expect(main).toMatchObject({
      jobId: id, parameters: { word: 'there' },
      nodeProperties: { numNodes: 3, mainNode: 0, nodeRangeProperties: [{ targetNodes: '0:', container: { command: ['sh', '-c', 'echo there'] } }] },
    });
    expect(main!.nodeDetails).toBeUndefined();
    expect(main!.container!.environment).toEqual(expect.arrayContaining([{ name: 'A', value: '1' }, { name: 'B', value: '2' }]));
    expect(main!.container!.resourceRequirements).toEqual(expect.arrayContaining([{ type: 'GPU', value: '2' }]));
    expect(node0).toMatchObject({ jobId: `${id}#0`, jobArn: `arn:aws:batch:local:000000000000:job/${id}#0`, nodeDetails: { nodeIndex: 0, isMainNode: true } });
    expect(node2).toMatchObject({ jobId: `${id}#2`, nodeDetails: { nodeIndex: 2, isMainNode: false }, status: 'RUNNABLE' });
    expect(node2!.nodeProperties).toBeUndefined();
    expect((await api.get(`/api/v1/jobs/${id}`)).body.nodeProperties.nodes).toHaveLength(3);
    const nodes = await admin.send(new ListJobsCommand({ multiNodeJobId: id, jobStatus: 'RUNNABLE' }));
    expect(nodes.jobSummaryList!.map((j) => [j.jobId, j.nodeProperties])).toEqual([0, 1, 2].map((i) => [`${id}#${i}`, { isMainNode: i === 0, numNodes: 3, nodeIndex: i }]));
    // Without nodeOverrides, the definition's count.
    const plain = await admin.send(new SubmitJobCommand({ jobName: 'mn2', jobQueue: q.jobQueueName, jobDefinition: `dm-${s}` }));
    expect((await api.get(`/api/v1/jobs/${plain.jobId}`)).body.nodeProperties.numNodes).toBe(2);
    // A single-node job has no nodes to address.
    const single = await admin.send(new RegisterJobDefinitionCommand({ jobDefinitionName: `ds-${s}`, type: 'container', containerProperties: { image: testEnv().testImage, vcpus: 1, memory: 64 } }));
    const one = await admin.send(new SubmitJobCommand({ jobName: 'one', jobQueue: q.jobQueueName, jobDefinition: single.jobDefinitionArn }));
    expect((await admin.send(new DescribeJobsCommand({ jobs: [`${one.jobId}#0`] }))).jobs).toEqual([]);
    for (const j of [id, plain.jobId!, one.jobId!]) await admin.send(new CancelJobCommand({ jobId: j, reason: 'done looking' }));
  });

  it('refuses multinode shapes one container per job cannot hold with a ClientException naming the field', async () => {
    const container = { image: testEnv().testImage, vcpus: 1, memory: 64 };
    const register = (nodeProperties: unknown, extra: Record<string, unknown> = {}) => failure(admin.send(new RegisterJobDefinitionCommand({
      jobDefinitionName: `bad-${s}`, type: 'multinode', nodeProperties, ...extra,
    } as never)));
    const cases: [unknown, string][] = [
      [{ numNodes: 2, mainNode: 0, nodeRangeProperties: [{ targetNodes: '0', container }, { targetNodes: '1', container: { ...container, command: ['worker'] } }] },
        'nodeProperties.nodeRangeProperties[1].container differs from nodeProperties.nodeRangeProperties[0].container in command: gpubatch runs the same container on every node'],
      [{ numNodes: 2, mainNode: 0, nodeRangeProperties: [{ targetNodes: '0', container }, { targetNodes: '1', container: { ...container, memory: 128 } }] },
        'in resourceRequirements'],
      [{ numNodes: 2, mainNode: 1, nodeRangeProperties: [{ targetNodes: '0:', container }] }, 'nodeProperties.mainNode 1 is not supported'],
      [{ numNodes: 2, mainNode: 0, nodeRangeProperties: [{ targetNodes: '0', container }] }, 'nodeProperties.nodeRangeProperties covers no range for node 1 of 2'],
      [{ numNodes: 2, mainNode: 0, nodeRangeProperties: [{ targetNodes: '0:', container }, { targetNodes: '1', container }] }, 'nodeProperties.nodeRangeProperties[1].targetNodes covers node 1, which an earlier range covers too'],
      [{ numNodes: 2, mainNode: 0, nodeRangeProperties: [{ targetNodes: 'all', container }] }, 'nodeProperties.nodeRangeProperties[0].targetNodes must be "n", "n:", ":m" or "n:m"'],
      [{ numNodes: 2, mainNode: 0, nodeRangeProperties: [{ targetNodes: '0:5', container }] }, 'nodeProperties.nodeRangeProperties[0].targetNodes "0:5" is not a range of nodes 0..1'],
      [{ numNodes: 1, mainNode: 0, nodeRangeProperties: [{ targetNodes: '0:', container }] }, 'nodeProperties.numNodes must be an integer from 2 to 64'],
      [{ numNodes: 2, mainNode: 0, nodeRangeProperties: [{ targetNodes: '0:' }] }, 'nodeProperties.nodeRangeProperties[0].container is required'],
      [{ numNodes: 2, mainNode: 0, nodeRangeProperties: [{ targetNodes: '0:', container: { image: 'i', memory: 64 } }] }, 'nodeProperties.nodeRangeProperties[0].container.resourceRequirements needs a VCPU entry'],
      [undefined, 'nodeProperties is required with type multinode'],
    ];
    for (const [props, message] of cases) {
      expect({ props, ...(await register(props)) }).toEqual({ props, name: 'ClientException', status: 400, message: expect.stringContaining(message) });
    }
    expect(await register({ numNodes: 2, mainNode: 0, nodeRangeProperties: [{ targetNodes: '0:', container }] }, { containerProperties: container }))
      .toMatchObject({ name: 'ClientException', message: expect.stringContaining('containerProperties must be absent with type multinode') });

    const q = await admin.send(new CreateJobQueueCommand({ jobQueueName: `qmb-${s}`, priority: 1 }));
    const mn = await admin.send(new RegisterJobDefinitionCommand({
      jobDefinitionName: `dmb-${s}`, type: 'multinode', nodeProperties: { numNodes: 2, mainNode: 0, nodeRangeProperties: [{ targetNodes: '0:', container }] },
    } as never));
    const single = await admin.send(new RegisterJobDefinitionCommand({ jobDefinitionName: `dsb-${s}`, type: 'container', containerProperties: container }));
    const submit = (jobDefinition: string, extra: Record<string, unknown>) =>
      failure(admin.send(new SubmitJobCommand({ jobName: 'bad', jobQueue: q.jobQueueName, jobDefinition, ...extra } as never)));
    const override = (targetNodes: string, command: string[]) => ({ targetNodes, containerOverrides: { command } });
    const submits: [string, Record<string, unknown>, string][] = [
      [mn.jobDefinitionArn!, { nodeOverrides: { nodePropertyOverrides: [override('1:', ['x'])] } },
        'nodeOverrides.nodePropertyOverrides leaves node 0 of 2 without the override: gpubatch runs the same container on every node'],
      [mn.jobDefinitionArn!, { nodeOverrides: { nodePropertyOverrides: [override('0', ['x']), override('1', ['y'])] } },
        'nodeOverrides.nodePropertyOverrides[1].containerOverrides differs from nodeOverrides.nodePropertyOverrides[0].containerOverrides in command'],
      [mn.jobDefinitionArn!, { nodeOverrides: { numNodes: 65 } }, 'nodeOverrides.numNodes must be an integer from 2 to 64'],
      [mn.jobDefinitionArn!, { nodeOverrides: { numNodes: 3, nodePropertyOverrides: [override('0:3', ['x'])] } }, 'nodeOverrides.nodePropertyOverrides[0].targetNodes "0:3" is not a range of nodes 0..2'],
      [mn.jobDefinitionArn!, { arrayProperties: { size: 2 } }, `array: job definition dmb-${s}:1 is multi-node`],
      [`dmb-${s}:x`, { nodeOverrides: { numNodes: 2 } }, 'definition must be "name" or "name:revision"'],
      [single.jobDefinitionArn!, { nodeOverrides: { nodePropertyOverrides: [override('0:', ['x'])] } }, `nodeOverrides applies to multi-node jobs: job definition dsb-${s}:1 is a container job definition`],
    ];
    for (const [definition, extra, message] of submits) {
      expect({ extra, ...(await submit(definition, extra)) }).toEqual({ extra, name: 'ClientException', status: 400, message: expect.stringContaining(message) });
    }
    // Two overrides that together cover every node with the same override map.
    const ok = await admin.send(new SubmitJobCommand({
      jobName: 'ok', jobQueue: q.jobQueueName, jobDefinition: mn.jobDefinitionArn, nodeOverrides: { nodePropertyOverrides: [override('0', ['x']), override('1', ['x'])] },
    }));
    expect((await admin.send(new DescribeJobsCommand({ jobs: [`${ok.jobId}#1`] }))).jobs![0]!.container!.command).toEqual(['x']);
    await admin.send(new CancelJobCommand({ jobId: ok.jobId, reason: 'done' }));
  });

  it('tags jobs, definitions, queues and compute environments', async () => {
    const q = await admin.send(new CreateJobQueueCommand({ jobQueueName: `qt-${s}`, priority: 1, tags: { a: '1' } }));
    const d = await admin.send(new RegisterJobDefinitionCommand({
      jobDefinitionName: `dt-${s}`, type: 'container', containerProperties: { image: testEnv().testImage, vcpus: 1, memory: 64 },
    }));
    const j = await admin.send(new SubmitJobCommand({ jobName: 't', jobQueue: q.jobQueueName, jobDefinition: d.jobDefinitionArn, tags: { x: 'y' } }));
    for (const arn of [q.jobQueueArn!, d.jobDefinitionArn!, `arn:aws:batch:local:000000000000:job/${j.jobId}`]) {
      await admin.send(new TagResourceCommand({ resourceArn: arn, tags: { k1: 'v1', k2: 'v2' } }));
      await admin.send(new UntagResourceCommand({ resourceArn: arn, tagKeys: ['k2'] }));
      expect((await admin.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags).toMatchObject({ k1: 'v1' });
      expect((await admin.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags!.k2).toBeUndefined();
    }
    expect((await admin.send(new ListTagsForResourceCommand({ resourceArn: q.jobQueueArn }))).tags).toEqual({ a: '1', k1: 'v1' });
    expect(await failure(admin.send(new TagResourceCommand({ resourceArn: q.jobQueueArn, tags: { 'aws:x': '1' } })))).toMatchObject({ name: 'ClientException' });
    expect(await failure(admin.send(new ListTagsForResourceCommand({ resourceArn: 'arn:aws:s3:::bucket' })))).toMatchObject({ name: 'ClientException', status: 400 });
  });

  it("answers in AWS's error shape: 400 ClientException with x-amzn-ErrorType, __type and a message naming the field", async () => {
    expect(await failure(admin.send(new RegisterJobDefinitionCommand({ jobDefinitionName: 'x', type: 'container', containerProperties: { image: 'i' } }))))
      .toEqual({ name: 'ClientException', status: 400, message: expect.stringContaining('VCPU') });
    expect(await failure(admin.send(new RegisterJobDefinitionCommand({
      jobDefinitionName: 'x', type: 'container', containerProperties: { image: 'i', vcpus: 1, memory: 64, privileged: true },
    })))).toMatchObject({ name: 'ClientException', message: expect.stringContaining('privileged') });
    expect(await failure(admin.send(new SubmitJobCommand({ jobName: 'x', jobQueue: 'no-such-queue', jobDefinition: 'x' }))))
      .toMatchObject({ name: 'ClientException', status: 400, message: 'job queue no-such-queue does not exist' });
    expect(await failure(admin.send(new DescribeJobsCommand({ jobs: Array.from({ length: 101 }, (_, i) => `j${i}`) }))))
      .toMatchObject({ name: 'ClientException', message: expect.stringContaining('at most 100') });
    expect(await failure(admin.send(new SubmitJobCommand({ jobName: 'bad name!', jobQueue: 'q', jobDefinition: 'd' }))))
      .toMatchObject({ name: 'ClientException', message: expect.stringContaining('name must be') });

    // The wire itself, as the AWS CLI reads it.
    const res = await fetch(`${api.baseUrl}/v1/describejobs`, { method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'content-type': 'application/json' }, body: '{"jobs":"x"}' });
    expect(res.status).toBe(400);
    expect(res.headers.get('x-amzn-errortype')).toBe('ClientException');
    expect(await res.json()).toEqual({ __type: 'ClientException', message: 'jobs must be a list of strings' });
    const unknown = await fetch(`${api.baseUrl}/v1/createschedulingpolicy`, { method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'content-type': 'application/json' }, body: '{}' });
    expect(await unknown.json()).toMatchObject({ __type: 'ClientException', message: expect.stringContaining('not supported') });
  });

  it('verifies signatures for real: a wrong secret, an unknown key id, no credentials are refused with the exception AWS raises', async () => {
    const [, id] = TEST_ADMIN_KEY.split('_');
    const wrongSecret = new BatchClient({ endpoint: api.baseUrl, region: 'eu-west-1', maxAttempts: 1, credentials: { accessKeyId: id!, secretAccessKey: 'W'.repeat(43) } });
    expect(await failure(wrongSecret.send(new DescribeJobQueuesCommand({}))))
      .toMatchObject({ name: 'InvalidSignatureException', status: 403, message: expect.stringContaining('does not match') });
    const unknownKey = new BatchClient({ endpoint: api.baseUrl, region: 'eu-west-1', maxAttempts: 1, credentials: { accessKeyId: 'AKIANOSUCHKEY', secretAccessKey: 'x'.repeat(40) } });
    expect(await failure(unknownKey.send(new DescribeJobQueuesCommand({})))).toMatchObject({ name: 'UnrecognizedClientException', status: 403 });
    const none = await fetch(`${api.baseUrl}/v1/describejobqueues`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect([none.status, none.headers.get('x-amzn-errortype'), ((await none.json()) as { __type: string }).__type]).toEqual([403, 'MissingAuthenticationTokenException', 'MissingAuthenticationTokenException']);
    wrongSecret.destroy();
    unknownKey.destroy();

    // The secret is kept sealed for SigV4, never in the clear.
    const made = await makeKey(api, [{ project: 'x', role: 'viewer' }]);
    const secret = made.key.split('_').slice(2).join('_');
    const [row] = await api.db.query(`SELECT sigv4_secret FROM api_keys WHERE id = $1`, [made.id]);
    expect(row.sigv4_secret).toMatch(/^v2:[0-9a-f]{8}:/);
    expect(JSON.stringify(row)).not.toContain(secret);
    const viewer = batch(api.baseUrl, made.key);
    expect((await viewer.send(new DescribeJobQueuesCommand({}))).jobQueues).toEqual(expect.any(Array));
    viewer.destroy();
  });

  it("applies roles and projects as the REST API does: another project's job is invisible, rights are checked per operation", async () => {
    const q = await admin.send(new CreateJobQueueCommand({ jobQueueName: `qp-${s}`, priority: 1 }));
    await admin.send(new RegisterJobDefinitionCommand({ jobDefinitionName: `dp-${s}`, type: 'container', containerProperties: { image: testEnv().testImage, vcpus: 1, memory: 64 } }));
    const theirs = await admin.send(new SubmitJobCommand({ jobName: 'theirs', jobQueue: q.jobQueueName, jobDefinition: `dp-${s}`, shareIdentifier: `other-${s}` }));
    const member = batch(api.baseUrl, (await makeKey(api, [{ project: `mine-${s}`, role: 'member' }])).key);
    try {
      const mine = await member.send(new SubmitJobCommand({ jobName: 'mine', jobQueue: q.jobQueueName, jobDefinition: `dp-${s}`, shareIdentifier: `mine-${s}` }));
      expect((await member.send(new DescribeJobsCommand({ jobs: [theirs.jobId!, mine.jobId!] }))).jobs!.map((j) => j.jobId)).toEqual([mine.jobId]);
      const listed = await member.send(new ListJobsCommand({ jobQueue: q.jobQueueName, jobStatus: 'RUNNABLE' }));
      expect(listed.jobSummaryList!.map((j) => j.jobId)).toEqual([mine.jobId]);
      expect(await failure(member.send(new CancelJobCommand({ jobId: theirs.jobId, reason: 'x' }))))
        .toMatchObject({ name: 'ClientException', message: `job ${theirs.jobId} does not exist` });
      expect(await failure(member.send(new ListTagsForResourceCommand({ resourceArn: `arn:aws:batch:local:000000000000:job/${theirs.jobId}` }))))
        .toMatchObject({ name: 'ClientException' });
      expect(await failure(member.send(new SubmitJobCommand({ jobName: 'x', jobQueue: q.jobQueueName, jobDefinition: `dp-${s}`, shareIdentifier: `other-${s}` }))))
        .toMatchObject({ name: 'AccessDeniedException', status: 403 });
      expect(await failure(member.send(new CreateJobQueueCommand({ jobQueueName: `nope-${s}`, priority: 1 }))))
        .toMatchObject({ name: 'AccessDeniedException', status: 403 });
    } finally {
      member.destroy();
    }
  });
});
