import { jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { registryCredentialName, SecretBox, sigV4SecretName } from '#libs/config';
import { ApiHarness } from '../support/api-harness.js';
import { TEST_ADMIN_KEY, testEnv } from '../support/test-env.js';

jest.setTimeout(120_000);

const run = promisify(execFile);
const RESEAL = path.resolve('dist/libs/db/src/reseal.js');

/**
 * Rotating GPUBATCH_SECRET_KEY: values sealed under the old key are opened
 * with GPUBATCH_SECRET_KEY_PREVIOUS and sealed again under the new one by
 * the built `npm run secrets:reseal` command, against the real Postgres.
 */
describe('secrets:reseal (built command, real Postgres)', () => {
  const oldKey = randomBytes(32).toString('base64');
  const newKey = randomBytes(32).toString('base64');
  let api: ApiHarness;
  let definitionName: string;
  let jobId: string;
  const workerId = `reseal-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    api = await ApiHarness.start({ GPUBATCH_SECRET_KEY: oldKey });
    const { queue, definition } = await api.fixture({ secretEnvironment: { HF_TOKEN: 'hf-old-secret', EMPTY: '' } });
    definitionName = definition;
    const job = await api.post('/api/v1/jobs', { name: 'r', queue, definition, overrides: { secretEnvironment: { RUN_TOKEN: 'run-secret' } } });
    expect(job.status).toBe(201);
    jobId = job.body.jobId;
    expect((await api.request('PUT', '/api/v1/projects/reseal/registry-credentials/registry.example.com', { username: 'u', password: 'registry-secret' })).status).toBe(200);
    await api.db.query(`INSERT INTO worker_identities (worker_id, pool, redis_username, signing_key) VALUES ($1, 'default', $2, $3)`,
      [workerId, `gpubatch-worker-${workerId}`, SecretBox.fromEnv(oldKey)!.sealSigningKey(workerId, 'a'.repeat(64))]);
  });

  afterAll(async () => {
    await api?.close();
  });

  const reseal = (env: Record<string, string>) => run(process.execPath, [RESEAL], {
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: testEnv().databaseUrl, REDIS_URL: testEnv().redisUrl, ...env },
  }).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }));

  const stored = async () => {
    const [d] = await api.db.query(`SELECT secret_environment FROM job_definitions WHERE name = $1`, [definitionName]);
    const [j] = await api.db.query(`SELECT secret_environment FROM jobs WHERE id = $1`, [jobId]);
    return { definition: d.secret_environment as Record<string, string>, job: j.secret_environment as Record<string, string> };
  };

  it('seals every value again under the new key; the old key is then no longer needed', async () => {
    const before = await stored();
    const oldId = SecretBox.fromEnv(oldKey)!.currentKeyId;
    expect(Object.values({ ...before.definition, ...before.job }).every((v) => v.startsWith(`v2:${oldId}:`))).toBe(true);

    const result = await reseal({ GPUBATCH_SECRET_KEY: newKey, GPUBATCH_SECRET_KEY_PREVIOUS: oldKey });
    expect(result.stdout).toMatch(/re-sealed under key [0-9a-f]{8}: [1-9]\d* job definitions, [1-9]\d* jobs, [1-9]\d* worker signing keys, [1-9]\d* API key SigV4 secrets, [1-9]\d* registry passwords/);
    // Other test files' rows (under their own keys) may be reported unreadable; ours must not be.
    expect(result.stderr).not.toContain(jobId);

    const after = await stored();
    const onlyNew = SecretBox.fromEnv(newKey)!;
    expect(Object.values({ ...after.definition, ...after.job }).every((v) => onlyNew.isCurrent(v))).toBe(true);
    expect(onlyNew.decryptAll(after.definition)).toEqual({ HF_TOKEN: 'hf-old-secret', EMPTY: '' });
    expect(onlyNew.decryptAll(after.job)).toEqual({ HF_TOKEN: 'hf-old-secret', EMPTY: '', RUN_TOKEN: 'run-secret' });
    expect(JSON.stringify(after)).not.toContain('secret');
    const [identity] = await api.db.query(`SELECT signing_key FROM worker_identities WHERE worker_id = $1`, [workerId]);
    expect(onlyNew.openSigningKey(workerId, identity.signing_key)).toBe('a'.repeat(64));
    const [registry] = await api.db.query(`SELECT sealed_password FROM registry_credentials WHERE scope = 'project' AND owner = 'reseal'`);
    expect(onlyNew.decrypt(registryCredentialName('project', 'reseal', 'registry.example.com'), registry.sealed_password)).toBe('registry-secret');
    // The admin key's SigV4 secret (sealed at start-up) now opens under the new key alone.
    const [admin] = await api.db.query(`SELECT id, sigv4_secret FROM api_keys WHERE id = 'testadmin'`);
    expect(onlyNew.decrypt(sigV4SecretName(admin.id), admin.sigv4_secret)).toBe(TEST_ADMIN_KEY.slice('gpb_testadmin_'.length));

    // Again: nothing left to do.
    const again = await reseal({ GPUBATCH_SECRET_KEY: newKey });
    expect(again.stdout).toMatch(/re-sealed under key [0-9a-f]{8}: 0 job definitions, 0 jobs, 0 worker signing keys, 0 API key SigV4 secrets, 0 registry passwords/);
  });

  it('a value that opens under no configured key is named, left as it is, and the command exits 1', async () => {
    const stranger = SecretBox.fromEnv(randomBytes(32).toString('base64'))!;
    const { queue, definition } = await api.fixture();
    const job = await api.post('/api/v1/jobs', { name: 'x', queue, definition });
    const sealed = JSON.stringify({ LOST: stranger.encrypt('LOST', 'v') });
    await api.db.query(`UPDATE jobs SET secret_environment = $2 WHERE id = $1`, [job.body.jobId, sealed]);
    const result = await reseal({ GPUBATCH_SECRET_KEY: newKey });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot open jobs ${job.body.jobId} LOST under any configured key`);
    const [row] = await api.db.query(`SELECT secret_environment FROM jobs WHERE id = $1`, [job.body.jobId]);
    expect(JSON.stringify(row.secret_environment)).toBe(sealed);
  });

  it('refuses to run without GPUBATCH_SECRET_KEY', async () => {
    const result = await reseal({});
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('GPUBATCH_SECRET_KEY is not set');
  });
});
