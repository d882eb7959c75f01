import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  BatchClient, CancelJobCommand, CreateComputeEnvironmentCommand, CreateJobQueueCommand, DescribeJobsCommand, ListJobsCommand,
  RegisterJobDefinitionCommand, SubmitJobCommand, TerminateJobCommand, type JobDetail,
} from '@aws-sdk/client-batch';
import type { DataSource } from 'typeorm';
import type { LocalCluster } from '../../scripts/lib/local-cluster.js';
import { openTestDatabase } from '../support/database.js';
import { startCluster, type ApiCall } from '../support/e2e-cluster.js';
import { resetState } from '../support/reset.js';
import { TEST_ADMIN_KEY, testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

const run = promisify(execFile);
// Debian's awscli (scripts/services.sh installs it); another `aws` on PATH may be a different major version.
const AWS_CLI = existsSync('/usr/bin/aws') ? '/usr/bin/aws' : 'aws';
const POOL = 'aws-ce';
const WORKER = 'aws-worker';

const credentialsOf = (key: string) => {
  const [, id, ...secret] = key.split('_');
  return { accessKeyId: id!, secretAccessKey: secret.join('_') };
};

/**
 * Unmodified AWS clients against the three built apps and real containers:
 * the official JavaScript SDK and Debian's AWS CLI, pointed at gpubatch with
 * endpoint / --endpoint-url, signing with a gpubatch API key.
 */
describe('end to end: AWS Batch clients (SDK and CLI) against api, scheduler and worker processes', () => {
  let db: DataSource;
  let cluster: LocalCluster;
  let base: string;
  let call: ApiCall;
  let sdk: BatchClient;
  const home = mkdtempSync(join(tmpdir(), 'gpubatch-awscli-'));

  /** The AWS CLI with these credentials; resolves with its exit code, stdout and stderr. */
  const cli = async (key: { accessKeyId: string; secretAccessKey: string }, ...args: string[]) => {
    const env = {
      PATH: process.env.PATH!, HOME: home, AWS_ACCESS_KEY_ID: key.accessKeyId, AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
      AWS_DEFAULT_REGION: 'eu-west-1', AWS_PAGER: '', AWS_EC2_METADATA_DISABLED: 'true', AWS_MAX_ATTEMPTS: '1',
    };
    try {
      const { stdout, stderr } = await run(AWS_CLI, ['batch', ...args, '--endpoint-url', base, '--output', 'json'], { env, timeout: 60_000 });
      return { code: 0, stdout, stderr, json: stdout.trim() ? JSON.parse(stdout) : undefined };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '', json: undefined };
    }
  };

  const describe1 = async (id: string): Promise<JobDetail | undefined> => (await sdk.send(new DescribeJobsCommand({ jobs: [id] }))).jobs![0];
  const finished = (id: string) => waitFor(`job ${id} to finish`, async () => {
    const job = await describe1(id);
    return job && ['SUCCEEDED', 'FAILED'].includes(job.status!) ? job : undefined;
  }, 90_000, 250);

  beforeAll(async () => {
    db = await openTestDatabase();
    await resetState(db);
    ({ cluster, base, call } = await startCluster({}, { GPUBATCH_SECRET_KEY: randomBytes(32).toString('base64') }));
    sdk = new BatchClient({ endpoint: base, region: 'eu-west-1', maxAttempts: 1, credentials: credentialsOf(TEST_ADMIN_KEY) });
    await sdk.send(new CreateComputeEnvironmentCommand({ computeEnvironmentName: POOL, type: 'UNMANAGED' }));
    cluster.start('worker', {
      WORKER_ID: WORKER, WORKER_POOL: POOL, WORKER_VCPUS: '2', WORKER_MEMORY_MIB: '1024', JOB_NETWORK_MODE: 'none', JOB_STOP_GRACE_SECONDS: '1',
      WORKER_GPUS: '[{"model":"A100","memoryMiB":81920},{"model":"A100","memoryMiB":81920}]',
    }, WORKER);
    await waitFor('the worker to join', async () => (await call('GET', `/api/v1/workers/${WORKER}`)).body?.state === 'ACTIVE', 30_000, 100);
    await sdk.send(new CreateJobQueueCommand({ jobQueueName: 'aws-q', priority: 1, computeEnvironmentOrder: [{ order: 1, computeEnvironment: POOL }] }));
    await sdk.send(new RegisterJobDefinitionCommand({
      jobDefinitionName: 'aws-gpu', type: 'container', parameters: { code: '0' },
      containerProperties: {
        image: testEnv().testImage,
        command: ['sh', '-c', 'echo "gpus=$NVIDIA_VISIBLE_DEVICES id=$AWS_BATCH_JOB_ID index=$AWS_BATCH_JOB_ARRAY_INDEX"; exit Ref::code'],
        resourceRequirements: [{ type: 'VCPU', value: '0.5' }, { type: 'MEMORY', value: '64' }, { type: 'GPU', value: '1' }],
      },
    }));
  }, 150_000);

  afterAll(async () => {
    sdk?.destroy();
    await cluster?.stop();
    await db?.destroy();
  });

  it('SDK: a GPU job runs to SUCCEEDED; ListJobs lists RUNNING by default and finds it by status; cancel and terminate stop jobs', async () => {
    const { jobId } = await sdk.send(new SubmitJobCommand({ jobName: 'gpu-ok', jobQueue: 'aws-q', jobDefinition: 'aws-gpu' }));
    const done = await finished(jobId!);
    expect(done).toMatchObject({ status: 'SUCCEEDED', container: { exitCode: 0 }, statusReason: 'Essential container exited with code 0' });
    expect(done.attempts).toHaveLength(1);
    expect(done.attempts![0]!.container).toMatchObject({ exitCode: 0, containerInstanceArn: WORKER });
    expect(done.startedAt).toBeGreaterThanOrEqual(done.createdAt!);
    expect(done.stoppedAt).toBeGreaterThanOrEqual(done.startedAt!);
    const logs = (await call('GET', `/api/v1/jobs/${jobId}/logs`)).body.lines.map((l: { text: string }) => l.text);
    expect(logs).toEqual([expect.stringMatching(new RegExp(`^gpus=[01] id=${jobId} index=$`))]);
    const succeeded = await sdk.send(new ListJobsCommand({ jobQueue: 'aws-q', jobStatus: 'SUCCEEDED' }));
    expect(succeeded.jobSummaryList!.map((j) => j.jobId)).toContain(jobId);

    const failed = await sdk.send(new SubmitJobCommand({ jobName: 'gpu-fails', jobQueue: 'aws-q', jobDefinition: 'aws-gpu', parameters: { code: '3' } }));
    expect(await finished(failed.jobId!)).toMatchObject({ status: 'FAILED', container: { exitCode: 3 } });

    const sleeper = await sdk.send(new SubmitJobCommand({
      jobName: 'sleeper', jobQueue: 'aws-q', jobDefinition: 'aws-gpu', containerOverrides: { command: ['sleep', '60'] },
    }));
    const waiting = await sdk.send(new SubmitJobCommand({ jobName: 'waits', jobQueue: 'aws-q', jobDefinition: 'aws-gpu', dependsOn: [{ jobId: sleeper.jobId }] }));
    await waitFor('ListJobs (no status) to list the sleeper as RUNNING', async () =>
      (await sdk.send(new ListJobsCommand({ jobQueue: 'aws-q' }))).jobSummaryList!.some((j) => j.jobId === sleeper.jobId && j.status === 'RUNNING'), 60_000, 250);
    expect((await sdk.send(new ListJobsCommand({ jobQueue: 'aws-q' }))).jobSummaryList!.every((j) => j.status === 'RUNNING')).toBe(true);
    expect((await describe1(waiting.jobId!))!.status).toBe('PENDING');

    // Cancel on a RUNNING job succeeds and changes nothing (AWS); on a waiting one it fails the job.
    await sdk.send(new CancelJobCommand({ jobId: sleeper.jobId, reason: 'no effect while running' }));
    await sdk.send(new CancelJobCommand({ jobId: waiting.jobId, reason: 'not needed' }));
    expect(await describe1(waiting.jobId!)).toMatchObject({ status: 'FAILED', statusReason: 'not needed' });
    expect((await describe1(sleeper.jobId!))!.status).toBe('RUNNING');
    await sdk.send(new TerminateJobCommand({ jobId: sleeper.jobId, reason: 'stop it' }));
    expect(await finished(sleeper.jobId!)).toMatchObject({ status: 'FAILED', statusReason: 'stop it' });
  });

  it('SDK: an array job with an N_TO_N dependency runs child i after child i of its partner', async () => {
    const a = await sdk.send(new SubmitJobCommand({ jobName: 'arr-a', jobQueue: 'aws-q', jobDefinition: 'aws-gpu', arrayProperties: { size: 2 } }));
    const b = await sdk.send(new SubmitJobCommand({
      jobName: 'arr-b', jobQueue: 'aws-q', jobDefinition: 'aws-gpu', arrayProperties: { size: 2 }, dependsOn: [{ jobId: a.jobId, type: 'N_TO_N' }],
    }));
    const [doneA, doneB] = [await finished(a.jobId!), await finished(b.jobId!)];
    expect(doneA).toMatchObject({ status: 'SUCCEEDED', arrayProperties: { size: 2, statusSummary: { SUCCEEDED: 2 } } });
    expect(doneB).toMatchObject({ status: 'SUCCEEDED', arrayProperties: { size: 2, statusSummary: { SUCCEEDED: 2 } } });
    for (const i of [0, 1]) {
      const [childA, childB] = (await sdk.send(new DescribeJobsCommand({ jobs: [`${a.jobId}:${i}`, `${b.jobId}:${i}`] }))).jobs!;
      expect(childB).toMatchObject({ arrayProperties: { index: i }, dependsOn: [{ jobId: `${a.jobId}:${i}` }] });
      expect(childB!.startedAt).toBeGreaterThanOrEqual(childA!.stoppedAt!);
      const logs = (await call('GET', `/api/v1/jobs/${b.jobId}:${i}/logs`)).body.lines.map((l: { text: string }) => l.text);
      expect(logs).toEqual([expect.stringContaining(`index=${i}`)]);
    }
    const children = await sdk.send(new ListJobsCommand({ arrayJobId: b.jobId, jobStatus: 'SUCCEEDED' }));
    expect(children.jobSummaryList!.map((j) => j.arrayProperties!.index).sort()).toEqual([0, 1]);
  });

  it('SDK: a multinode definition submitted with nodeOverrides runs 2 nodes on 2 workers to SUCCEEDED; DescribeJobs gives nodeProperties and nodeDetails', async () => {
    await sdk.send(new CreateComputeEnvironmentCommand({ computeEnvironmentName: 'aws-mn', type: 'UNMANAGED' }));
    expect((await call('PATCH', '/api/v1/pools/aws-mn/container-policy', { allowMultiNode: true })).status).toBe(200);
    for (const id of ['aws-mn-1', 'aws-mn-2']) {
      cluster.start('worker', {
        WORKER_ID: id, WORKER_POOL: 'aws-mn', WORKER_VCPUS: '1', WORKER_MEMORY_MIB: '512', WORKER_GPUS: '[{"model":"A100","memoryMiB":81920}]',
        JOB_NETWORK_MODE: 'none', JOB_STOP_GRACE_SECONDS: '1', WORKER_ADVERTISE_ADDRESS: '127.0.0.1',
      }, id);
    }
    await waitFor('both multi-node workers to join', async () => (await call('GET', '/api/v1/workers')).body.workers.filter(
      (w: { workerId: string; state: string }) => w.workerId.startsWith('aws-mn-') && w.state === 'ACTIVE').length === 2, 30_000, 100);
    await sdk.send(new CreateJobQueueCommand({ jobQueueName: 'aws-mn-q', priority: 1, computeEnvironmentOrder: [{ order: 1, computeEnvironment: 'aws-mn' }] }));
    const container = {
      image: testEnv().testImage, command: ['sh', '-c', 'exit 3'],
      resourceRequirements: [{ type: 'VCPU' as const, value: '0.5' }, { type: 'MEMORY' as const, value: '64' }, { type: 'GPU' as const, value: '1' }],
    };
    await sdk.send(new RegisterJobDefinitionCommand({
      jobDefinitionName: 'aws-mn', type: 'multinode',
      nodeProperties: { numNodes: 3, mainNode: 0, nodeRangeProperties: [{ targetNodes: '0:', container }] },
    }));
    // numNodes 3 → 2 (two workers), and one command for every node: each prints its AWS node variables, and
    // node 1 reaches the main node at AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS before the main node ends.
    const { jobId } = await sdk.send(new SubmitJobCommand({
      jobName: 'aws-gang', jobQueue: 'aws-mn-q', jobDefinition: 'aws-mn',
      nodeOverrides: {
        numNodes: 2,
        nodePropertyOverrides: [{ targetNodes: '0:', containerOverrides: {
          command: ['sh', '-c', [
            'echo "node=$AWS_BATCH_JOB_NODE_INDEX of $AWS_BATCH_JOB_NUM_NODES main=$AWS_BATCH_JOB_MAIN_NODE_INDEX gpus=$NVIDIA_VISIBLE_DEVICES"',
            'if [ "$AWS_BATCH_JOB_NODE_INDEX" = 0 ]; then echo main | nc -l -p "$MASTER_PORT" >/dev/null; exit $?; fi',
            'for i in $(seq 1 100); do if echo node | nc "$AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS" "$MASTER_PORT" >/dev/null 2>&1; then exit 0; fi; sleep 0.2; done; exit 1',
          ].join('\n')],
        } }],
      },
    }));
    const done = await finished(jobId!);
    expect(done).toMatchObject({
      status: 'SUCCEEDED', container: { exitCode: 0 },
      nodeProperties: { numNodes: 2, mainNode: 0, nodeRangeProperties: [{ targetNodes: '0:', container: { image: testEnv().testImage } }] },
    });
    const [node0, node1] = (await sdk.send(new DescribeJobsCommand({ jobs: [`${jobId}#0`, `${jobId}#1`] }))).jobs!;
    expect(node0).toMatchObject({ jobId: `${jobId}#0`, status: 'SUCCEEDED', nodeDetails: { nodeIndex: 0, isMainNode: true } });
    // (Node 1's own container may still be closing when the main node ends the job: its exit code is not pinned.)
    expect(node1).toMatchObject({ jobId: `${jobId}#1`, status: 'SUCCEEDED', nodeDetails: { nodeIndex: 1, isMainNode: false } });
    // One node per worker.
    expect(new Set([node0!.attempts![0]!.container!.containerInstanceArn, node1!.attempts![0]!.container!.containerInstanceArn])).toEqual(new Set(['aws-mn-1', 'aws-mn-2']));
    for (const [id, index] of [[jobId!, 0], [`${jobId}:node1`, 1]] as const) {
      const logs = (await call('GET', `/api/v1/jobs/${id}/logs`)).body.lines.map((l: { text: string }) => l.text);
      expect(logs).toEqual([`node=${index} of 2 main=0 gpus=0`]);
    }
    const listed = await sdk.send(new ListJobsCommand({ multiNodeJobId: jobId, jobStatus: 'SUCCEEDED' }));
    expect(listed.jobSummaryList!.map((j) => j.jobId)).toEqual([`${jobId}#0`, `${jobId}#1`]);
  });

  it("AWS CLI: submits, describes the SUCCEEDED job and lists; a bad signature is AWS's error and a non-zero exit; another project's job is invisible", async () => {
    const admin = credentialsOf(TEST_ADMIN_KEY);
    const queues = await cli(admin, 'describe-job-queues', '--job-queues', 'aws-q');
    expect(queues.code).toBe(0);
    expect(queues.json.jobQueues[0]).toMatchObject({ jobQueueName: 'aws-q', jobQueueArn: 'arn:aws:batch:local:000000000000:job-queue/aws-q', state: 'ENABLED' });

    const submitted = await cli(admin, 'submit-job', '--job-name', 'cli-job', '--job-queue', 'aws-q', '--job-definition', 'aws-gpu',
      '--share-identifier', 'cli-team', '--container-overrides', '{"resourceRequirements":[{"type":"GPU","value":"2"}]}');
    expect(submitted.code).toBe(0);
    const jobId = submitted.json.jobId as string;
    expect(submitted.json).toEqual({ jobArn: `arn:aws:batch:local:000000000000:job/${jobId}`, jobName: 'cli-job', jobId });
    // Waited for through the SDK: each CLI run costs a Python start-up; the CLI then reads the finished job.
    expect((await finished(jobId)).status).toBe('SUCCEEDED');
    const described = await cli(admin, 'describe-jobs', '--jobs', jobId);
    expect(described.code).toBe(0);
    const done = described.json.jobs[0];
    expect(done.status).toBe('SUCCEEDED');
    expect(done).toMatchObject({ shareIdentifier: 'cli-team', container: { exitCode: 0, resourceRequirements: expect.arrayContaining([{ type: 'GPU', value: '2' }]) } });
    expect((await call('GET', `/api/v1/jobs/${jobId}`)).body.attempts[0].gpuDevices.sort()).toEqual([0, 1]);
    const listed = await cli(admin, 'list-jobs', '--job-queue', 'aws-q', '--filters', 'name=JOB_NAME,values=cli-*');
    expect(listed.code).toBe(0);
    expect(listed.json.jobSummaryList.map((j: { jobId: string }) => j.jobId)).toEqual([jobId]);

    const forged = await cli({ ...admin, secretAccessKey: 'W'.repeat(43) }, 'describe-jobs', '--jobs', jobId);
    expect(forged.code).toBe(254);
    expect(forged.stderr).toContain('InvalidSignatureException');
    expect(forged.stdout).not.toContain(jobId);

    const made = await call('POST', '/api/v1/api-keys', { name: 'other-team', roles: [{ project: 'other-team', role: 'member' }] });
    const other = credentialsOf(made.body.key);
    const invisible = await cli(other, 'describe-jobs', '--jobs', jobId);
    expect([invisible.code, invisible.json]).toEqual([0, { jobs: [] }]);
    const cancel = await cli(other, 'terminate-job', '--job-id', jobId, '--reason', 'not mine');
    expect(cancel.code).toBe(254);
    expect(cancel.stderr).toContain('ClientException');
    expect(cancel.stderr).toContain(`job ${jobId} does not exist`);
  });
});
