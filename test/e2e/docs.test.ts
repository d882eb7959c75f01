import { jest } from '@jest/globals';
import { LocalCluster } from '../../scripts/lib/local-cluster.js';
import { TEST_ADMIN_KEY, TEST_AUTH_ENV, testEnv } from '../support/test-env.js';

jest.setTimeout(120_000);

/**
 * The Swagger UI and OpenAPI document of the built API (they need the real
 * process: Jest cannot load the UI's files) are behind credentials like
 * every route: a bearer key, or Basic with the key as the password so a
 * browser can ask for it.
 */
describe('API docs need credentials (built API process)', () => {
  let cluster: LocalCluster;
  let base: string;
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const get = (path: string, authorization?: string) => fetch(base + path, { headers: authorization ? { authorization } : {} });

  beforeAll(async () => {
    const { databaseUrl, redisUrl } = testEnv();
    cluster = new LocalCluster({ DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, ...TEST_AUTH_ENV });
    const port = await LocalCluster.freePort();
    base = `http://127.0.0.1:${port}`;
    const api = cluster.start('api', { PORT: String(port), HOST: '127.0.0.1' });
    await LocalCluster.waitForHttp(`${base}/health/ready`, api, 90_000);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it.each([
    ['no credentials', undefined],
    ['a wrong key', `Bearer gpb_testadmin_${'x'.repeat(43)}`],
    ['Basic with a wrong key', basic('me', `gpb_testadmin_${'x'.repeat(43)}`)],
    ['Basic with no password', basic('me', '')],
    ['Basic that is not base64', 'Basic !!!'],
    ['Basic without a colon', `Basic ${Buffer.from(TEST_ADMIN_KEY).toString('base64')}`],
  ])('%s: 401 with a Basic challenge, on the UI and on the document', async (_what, authorization) => {
    for (const path of ['/docs', '/docs/', '/docs/static/index.html', '/docs-json', '/docs-yaml', '/docs?x=1']) {
      const res = await get(path, authorization);
      expect([path, res.status]).toEqual([path, 401]);
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
      expect(await res.json()).toEqual(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
    }
  });

  it.each([
    ['a bearer key', `Bearer ${TEST_ADMIN_KEY}`],
    ['Basic with the key as the password', basic('anyone', TEST_ADMIN_KEY)],
  ])('%s opens the UI and the OpenAPI document, which declares the bearer scheme', async (_what, authorization) => {
    const ui = await get('/docs', authorization);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('swagger');
    const doc = await get('/docs-json', authorization);
    expect(doc.status).toBe(200);
    const spec = await doc.json() as { components: { securitySchemes: Record<string, { scheme: string }> }; paths: Record<string, unknown> };
    expect(spec.components.securitySchemes.bearer.scheme).toBe('bearer');
    expect(Object.keys(spec.paths)).toContain('/api/v1/jobs');
  });

  it('the probes stay open', async () => {
    expect((await get('/health/live')).status).toBe(200);
    expect((await get('/health/ready')).status).toBe(200);
  });
});
