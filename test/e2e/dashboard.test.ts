import http from 'node:http';
import { mkdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { DataSource } from 'typeorm';
import { LocalCluster } from '../../scripts/lib/local-cluster.js';
import { openTestDatabase } from '../support/database.js';
import { startCluster, type ApiCall } from '../support/e2e-cluster.js';
import { resetState } from '../support/reset.js';
import { TEST_ADMIN_KEY, testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

/** Debian's chromium: the test never downloads a browser (scripts/services.sh installs the package). */
const CHROMIUM = process.env.GPUBATCH_CHROMIUM ?? '/usr/bin/chromium';
/** `npm run screenshots` sets this to docs/ui: each page is saved there as a PNG. */
const SCREENSHOTS = process.env.GPUBATCH_UI_SCREENSHOTS;
const WORKER = 'ui-gpu';
/** The stub nvidia-smi (test/fixtures/gpu): the worker discovers its two GPUs and samples them, at 0% busy. */
const GPU_STUBS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/gpu');
const PROJECT = 'ui-e2e';
const OIDC_AUDIENCE = 'gpubatch-ui-test';
const OIDC_CLIENT = 'gpubatch-dashboard';

/**
 * An OIDC issuer on loopback, enough for a browser sign-in: discovery, JWKS,
 * an authorization endpoint that signs "alice" in at once and sends the
 * browser back with a code, and a token endpoint that checks the PKCE
 * verifier and returns a signed access token.
 */
async function startIssuer(): Promise<{ url: string; close: () => Promise<void> }> {
  const pair = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const codes = new Map<string, { challenge: string; redirectUri: string }>();
  const server = http.createServer(async (req, res) => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const url = new URL(req.url ?? '/', base);
    res.setHeader('access-control-allow-origin', '*');
    if (url.pathname === '/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ issuer: base, jwks_uri: `${base}/jwks`, authorization_endpoint: `${base}/authorize`, token_endpoint: `${base}/token` }));
    } else if (url.pathname === '/jwks') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    } else if (url.pathname === '/authorize') {
      const q = url.searchParams;
      if (q.get('client_id') !== OIDC_CLIENT || q.get('code_challenge_method') !== 'S256' || q.get('response_type') !== 'code') {
        res.statusCode = 400;
        res.end('bad authorization request');
        return;
      }
      const code = `code-${codes.size + 1}`;
      codes.set(code, { challenge: q.get('code_challenge')!, redirectUri: q.get('redirect_uri')! });
      res.statusCode = 302;
      res.setHeader('location', `${q.get('redirect_uri')}?code=${code}&state=${encodeURIComponent(q.get('state')!)}`);
      res.end();
    } else if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      for await (const chunk of req) body += chunk;
      const form = new URLSearchParams(body);
      const pending = codes.get(form.get('code') ?? '');
      const { createHash } = await import('node:crypto');
      const challenge = createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url');
      res.setHeader('content-type', 'application/json');
      if (!pending || pending.challenge !== challenge || pending.redirectUri !== form.get('redirect_uri')) {
        res.statusCode = 400;
        res.end(JSON.stringify({ error: 'invalid_grant' }));
        return;
      }
      codes.delete(form.get('code')!);
      const token = await new SignJWT({ groups: ['ui-team'] }).setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuer(base).setAudience(OIDC_AUDIENCE).setSubject('alice').setIssuedAt().setExpirationTime('10m').sign(pair.privateKey);
      res.end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: 600 }));
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
}

/**
 * The dashboard in Debian's chromium, against the built API, scheduler and a
 * worker with two stub GPUs, running real containers: sign in (API key and
 * OIDC), a submitted job appears, its live logs, the GPU it holds, terminate
 * from the page, the usage chart, with no console error anywhere.
 */
describe('end to end: the web dashboard in a real browser', () => {
  let db: DataSource;
  let cluster: LocalCluster;
  let call: ApiCall;
  let base: string;
  let issuer: Awaited<ReturnType<typeof startIssuer>>;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const consoleErrors: string[] = [];
  let jobId: string;
  /** Asks for more GPUs than any worker has: it waits, with its reason. */
  let bigId: string;
  /** A quick CPU job of another project, which alice (a viewer of PROJECT only) must not see. */
  let otherId: string;

  const watch = (p: Page) => {
    p.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(`${p.url()}: ${m.text()}`); });
    p.on('pageerror', (e) => consoleErrors.push(`${p.url()}: ${e.message}`));
  };
  const shot = async (name: string) => {
    if (!SCREENSHOTS) return;
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
  };
  const job = async (id: string) => (await call('GET', `/api/v1/jobs/${encodeURIComponent(id)}`)).body;

  beforeAll(async () => {
    db = await openTestDatabase();
    await resetState(db);
    issuer = await startIssuer();
    ({ cluster, call, base } = await startCluster({}, { OIDC_ISSUER: issuer.url, OIDC_AUDIENCE: OIDC_AUDIENCE, GPUBATCH_UI_OIDC_CLIENT_ID: OIDC_CLIENT }));
    expect((await call('POST', '/api/v1/pools', { name: 'ui', prices: { vcpuHour: '0.50', memoryGiBHour: '0.10', gpuHour: '2.00', gpuHourByModel: { A100: '3.60' } } })).status).toBe(201);
    expect((await call('POST', '/api/v1/job-queues', { name: 'ui-train', priority: 10, pools: ['ui'] })).status).toBe(201);
    expect((await call('POST', '/api/v1/job-definitions', {
      name: 'ui-chatty', image: testEnv().testImage, resources: { vcpus: 0.5, memoryMiB: 128, gpus: 1 },
      command: ['sh', '-c', 'i=0; while true; do echo "training step $i"; i=$((i+1)); sleep 0.2; done'],
    })).status).toBe(201);
    expect((await call('POST', '/api/v1/job-queues', { name: 'ui-wait', priority: 1, pools: ['ui'] })).status).toBe(201);
    expect((await call('POST', '/api/v1/job-definitions', {
      name: 'ui-hello', image: testEnv().testImage, resources: { vcpus: 0.5, memoryMiB: 64 }, command: ['sh', '-c', 'echo hello; sleep 1'],
    })).status).toBe(201);
    expect((await call('PUT', '/api/v1/role-bindings', { subject: 'group:ui-team', project: PROJECT, role: 'viewer' })).status).toBe(200);
    cluster.start('worker', {
      WORKER_ID: WORKER, WORKER_POOL: 'ui', WORKER_VCPUS: '2', WORKER_MEMORY_MIB: '2048', JOB_NETWORK_MODE: 'none', WORKER_HEARTBEAT_MS: '500',
      PATH: `${GPU_STUBS}:${process.env.PATH}`, WORKER_GPUS: 'auto', JOB_STOP_GRACE_SECONDS: '2',
      GPUBATCH_FAKE_GPUS: '0, GPU-11111111-1111-1111-1111-111111111111, A100, 81920\\n1, GPU-22222222-2222-2222-2222-222222222222, A100, 81920',
      // Both GPUs idle (0% busy, 12 MiB in use), sampled often enough that the GPU job's few seconds are measured.
      GPUBATCH_FAKE_GPU_UTIL: '0, 0, 12\\n1, 0, 12', WORKER_GPU_SAMPLE_MS: '200',
    }, WORKER);
    await waitFor('the worker to join', async () => (await call('GET', `/api/v1/workers/${WORKER}`)).body?.state === 'ACTIVE', 30_000, 100);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    context = await browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true });
    context.setDefaultTimeout(15_000);
    page = await context.newPage();
    watch(page);
  }, 150_000);

  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
    await issuer?.close();
    await db?.destroy();
  });

  it('serves the page at /ui without credentials, and refuses data without them', async () => {
    const res = await fetch(`${base}/ui/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(await res.text()).toContain('<div id="root">');
    expect((await fetch(`${base}/api/v1/overview`)).status).toBe(401);
    expect(await (await fetch(`${base}/ui/config.json`)).json()).toEqual({ oidc: { issuer: issuer.url, audience: OIDC_AUDIENCE, clientId: OIDC_CLIENT } });
  });

  it('refuses a wrong key with a clear message', async () => {
    // Its own page: the browser logs the deliberate 401 as a console error, which the main page must never have.
    const other = await context.newPage();
    await other.goto(`${base}/ui`);
    await other.getByRole('textbox', { name: 'API key' }).fill(`gpb_nobody_${'x'.repeat(43)}`);
    await other.getByRole('button', { name: 'Sign in', exact: true }).click();
    await other.getByRole('alert').filter({ hasText: 'does not accept this credential' }).waitFor();
    await other.close();
  });

  it('signs in with an API key, by keyboard, and shows the overview', async () => {
    await page.goto(`${base}/ui`);
    await page.getByTestId('oidc-sign-in').waitFor();
    await shot('sign-in');
    await page.getByRole('textbox', { name: 'API key' }).focus();
    await page.keyboard.type(TEST_ADMIN_KEY);
    await page.keyboard.press('Enter');
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    expect(await page.getByTestId('who').textContent()).toBe('key:testadmin');
    expect(await page.evaluate(() => Object.keys(sessionStorage))).toContain('gpubatch.credential');
    await page.getByTestId('queue-counts').getByRole('rowheader', { name: 'ui-train' }).waitFor();
    await page.getByTestId('gpu-inventory').getByRole('row').filter({ hasText: 'A100' }).filter({ hasText: '0 / 2' }).waitFor();

    // Tab through the page: the main navigation is reachable and shows where focus is.
    let focused = '';
    for (let i = 0; i < 12 && focused !== 'Jobs'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate<string>("document.activeElement?.textContent ?? ''");
    }
    expect(focused).toBe('Jobs');
    expect(await page.evaluate<string>('getComputedStyle(document.activeElement).outlineStyle')).not.toBe('none');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Jobs', exact: true }).waitFor();
  });

  it('shows a job submitted through the API in the jobs table without a reload', async () => {
    await page.getByTestId('jobs-table').waitFor();
    const big = await call('POST', '/api/v1/jobs', {
      name: 'ui-too-big', queue: 'ui-wait', definition: 'ui-chatty', project: PROJECT, overrides: { resources: { gpus: 4 } },
    });
    const other = await call('POST', '/api/v1/jobs', { name: 'ui-hello-run', queue: 'ui-train', definition: 'ui-hello', project: 'ui-other' });
    expect([big.status, other.status]).toEqual([201, 201]);
    bigId = big.body.jobId;
    otherId = other.body.jobId;
    const submitted = await call('POST', '/api/v1/jobs', { name: 'ui-train-run', queue: 'ui-train', definition: 'ui-chatty', project: PROJECT });
    expect(submitted.status).toBe(201);
    jobId = submitted.body.jobId;
    const row = page.locator(`tr[data-job-id="${jobId}"]`);
    await row.waitFor({ timeout: 15_000 });
    expect(await row.textContent()).toContain('ui-train-run');
    // The waiting job's reason, as the API gives it, is in its row.
    const reason = await waitFor('a reason for the big job', async () => (await job(bigId)).statusReason?.startsWith('UNSCHEDULABLE') && (await job(bigId)).statusReason, 20_000, 200);
    await page.locator(`tr[data-job-id="${bigId}"] td.reason`).getByText(reason, { exact: true }).waitFor();
    await row.locator('.badge', { hasText: 'RUNNING' }).waitFor({ timeout: 30_000 });
    await shot('jobs');
    await page.getByLabel('Status').selectOption('RUNNABLE');
    await page.locator(`tr[data-job-id="${bigId}"]`).waitFor();
    await row.waitFor({ state: 'detached' });
    expect(page.url()).toContain('status=RUNNABLE');
    await page.getByLabel('Status').selectOption('');
    // Paging over the API's cursor, newest first: one job a page.
    await page.goto(`${base}/ui/#/jobs?limit=1`);
    const rows = page.getByTestId('jobs-table').locator('tbody tr');
    await page.locator(`tr[data-job-id="${jobId}"]`).waitFor();
    await page.getByRole('button', { name: 'Next page' }).click();
    await page.locator(`tr[data-job-id="${otherId}"]`).waitFor();
    expect(await rows.count()).toBe(1);
    await page.getByRole('button', { name: 'Next page' }).click();
    await page.locator(`tr[data-job-id="${bigId}"]`).waitFor();
    await page.getByRole('button', { name: 'Previous page' }).click();
    await page.locator(`tr[data-job-id="${otherId}"]`).waitFor();
    await page.goto(`${base}/ui/#/jobs`);
  });

  it('streams the job\'s log lines while it runs', async () => {
    await page.locator(`tr[data-job-id="${jobId}"]`).getByRole('link', { name: 'ui-train-run' }).click();
    await page.getByRole('heading', { name: 'Job ui-train-run' }).waitFor();
    const logs = page.getByTestId('logs');
    await logs.getByText('training step 3', { exact: true }).waitFor({ timeout: 20_000 });
    const seen = (await logs.textContent())!.split('\n').filter(Boolean).length;
    // More lines arrive while the page stays open, and the container is still running.
    await waitFor('more live lines', async () => (await logs.textContent())!.split('\n').filter(Boolean).length > seen + 3, 15_000, 100);
    expect((await job(jobId)).status).toBe('RUNNING');
    await page.getByTestId('attempts').getByText(WORKER).waitFor();
    await shot('job');
  });

  it('shows the GPU the job holds on the workers grid', async () => {
    await page.getByRole('link', { name: 'Workers' }).click();
    const worker = page.locator(`li[data-worker-id="${WORKER}"]`);
    await worker.waitFor();
    const device = (await job(jobId)).attempts[0].gpuDevices[0] as number;
    const held = worker.locator(`li.gpu[data-gpu-index="${device}"]`);
    await held.getByRole('link', { name: new RegExp(jobId) }).waitFor();
    expect(await held.getAttribute('class')).toContain('held');
    expect(await worker.locator('li.gpu.free').count()).toBe(1);
    expect(await worker.getByTestId('heartbeat-age').textContent()).toMatch(/^\d+ s$/);
    await worker.getByRole('button', { name: 'Drain' }).waitFor();
    await shot('workers');
  });

  it('terminates the job from its page', async () => {
    await page.goBack();
    await page.getByRole('heading', { name: 'Job ui-train-run' }).waitFor();
    await page.getByRole('button', { name: 'Terminate' }).click();
    await page.getByLabel('Reason').fill('stopped from the dashboard');
    await page.getByRole('button', { name: 'Confirm terminate' }).click();
    await page.getByTestId('status-reason').getByText('stopped from the dashboard').waitFor({ timeout: 30_000 });
    await waitFor('the job to end', async () => (await job(jobId)).status === 'FAILED', 30_000, 200);
    expect((await job(jobId)).statusReason).toBe('stopped from the dashboard');
    await page.locator('.title-row .badge', { hasText: 'FAILED' }).waitFor({ timeout: 10_000 });
    await page.getByText('The attempt has ended.').waitFor({ timeout: 10_000 });
    await page.getByTestId('timeline').getByText('stopped from the dashboard').first().waitFor();
  });

  it('flags the job whose GPU sat at 0% on its page and in the jobs table', async () => {
    // Its GPU use is known once the attempt ends and the scheduler has settled its usage.
    await page.getByTestId('gpu-idle').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('gpu-idle').textContent()).toContain('Idle GPUs: Attempt 1 held GPUs it did not use');
    expect((await job(jobId)).gpuIdle).toBe(true);
    // In words beside the status, not by colour alone; the icon is hidden from screen readers.
    expect(await page.locator('.title-row').getByTestId('gpu-idle-flag').textContent()).toBe('⚠ Idle GPUs');
    expect(await page.locator('.title-row [data-testid="gpu-idle-flag"] [aria-hidden="true"]').textContent()).toBe('⚠ ');
    const use = page.getByTestId('attempts').getByTestId('gpu-use');
    expect(await use.textContent()).toMatch(/^0% avg, 0% peak12 MiB avg, 12 MiB peak⚠ Idle GPUs$/);
    await shot('job-idle');
    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    const row = page.locator(`tr[data-job-id="${jobId}"]`);
    await row.getByTestId('gpu-idle-flag').waitFor();
    expect(await row.getByTestId('gpu-idle-flag').textContent()).toBe('⚠ Idle GPUs');
    // The CPU job has no GPUs to leave idle, the waiting one has not run.
    await page.locator(`tr[data-job-id="${otherId}"]`).waitFor();
    expect(await page.getByTestId('jobs-table').getByTestId('gpu-idle-flag').count()).toBe(1);
    const listed = (await call('GET', '/api/v1/jobs?limit=10')).body.jobs as { jobId: string; gpuIdle: boolean }[];
    expect(listed.filter((j) => j.gpuIdle).map((j) => j.jobId)).toEqual([jobId]);
  });

  it('cancels a waiting job from its page, which says why it waits', async () => {
    await page.goto(`${base}/ui/#/jobs/${encodeURIComponent(bigId)}`);
    await page.getByTestId('status-reason').getByText(/^UNSCHEDULABLE: /).waitFor();
    // Escape backs out of the confirmation; the job is untouched.
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByLabel('Reason').press('Escape');
    await page.getByLabel('Reason').waitFor({ state: 'detached' });
    expect((await job(bigId)).status).toBe('RUNNABLE');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByLabel('Reason').fill('too big for this pool');
    await page.getByRole('button', { name: 'Confirm cancel' }).click();
    await page.locator('.title-row .badge', { hasText: 'FAILED' }).waitFor();
    expect(await job(bigId)).toMatchObject({ status: 'FAILED', statusReason: 'too big for this pool' });
  });

  it('draws the usage chart from the job\'s billed usage, and downloads it as CSV', async () => {
    await waitFor('the usage rows', async () => (await db.query(`SELECT 1 FROM usage WHERE job_id = ANY($1) AND NOT running`, [[jobId, otherId]])).length === 2, 30_000, 200);
    await page.getByRole('link', { name: 'Usage' }).click();
    await page.getByTestId('usage-table').getByRole('cell', { name: PROJECT }).waitFor();
    // Every GPU-second of the terminated job was idle: its project's idle GPU-hours, as the API reports them.
    const report = (await call('GET', `/api/v1/usage?from=2000-01-01&groupBy=project`)).body;
    const gpuRow = report.rows.find((r: { project: string }) => r.project === PROJECT);
    expect(gpuRow.idleGpuHours).toBeGreaterThan(0);
    expect(gpuRow.idleGpuHours).toBe(gpuRow.gpuHours);
    const idleCell = page.getByTestId('usage-table').getByRole('row').filter({ hasText: PROJECT }).getByTestId('idle-gpu-hours');
    expect(await idleCell.textContent()).toBe(gpuRow.idleGpuHours.toFixed(4));
    expect(await page.getByTestId('usage-table').getByRole('row').filter({ hasText: 'ui-other' }).getByTestId('idle-gpu-hours').textContent()).toBe('0.0000');
    await page.getByRole('columnheader', { name: 'Idle GPU-hours' }).waitFor();
    // The idle GPU-hours bar stands beside the day's stack, in its own colour (#b45309); its legend swatch alone is ~500 pixels.
    const idlePixels = await page.getByTestId('usage-gpu-chart').evaluate((canvas: any) => {
      const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
      let coloured = 0;
      for (let i = 0; i < data.length; i += 4) if (data[i] === 0xb4 && data[i + 1] === 0x53 && data[i + 2] === 0x09) coloured++;
      return coloured;
    });
    expect(idlePixels).toBeGreaterThan(2000);
    await page.getByTestId('usage-table').getByRole('cell', { name: 'ui-other' }).waitFor();
    const painted = await page.getByTestId('usage-cost-chart').evaluate((canvas: any) => {
      const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
      let coloured = 0;
      // The first series' colour (#2563eb): the bar of the first project, ui-e2e, the GPU job (its legend swatch alone is ~500 pixels).
      for (let i = 0; i < data.length; i += 4) if (data[i] === 0x25 && data[i + 1] === 0x63 && data[i + 2] === 0xeb) coloured++;
      return { width: canvas.width, coloured };
    });
    expect(painted.width).toBeGreaterThan(200);
    expect(painted.coloured).toBeGreaterThan(2000);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    const csv = readFileSync((await download.path())!, 'utf8');
    expect(csv.split(/\r?\n/)[0]).toBe('project,day,currency,attempts,gpuHours,vcpuHours,memoryGiBHours,cost,includesRunning,idleGpuHours');
    expect(csv).toContain(`\n${PROJECT},`);
    expect(csv).toContain('\nui-other,');
    await shot('usage');
  });

  it('lists schedules and shows the overview figures', async () => {
    expect((await call('POST', '/api/v1/schedules', {
      name: 'ui-nightly', cron: '0 2 * * *', submit: { name: 'nightly', queue: 'ui-train', definition: 'ui-chatty', project: PROJECT },
    })).status).toBe(201);
    await page.getByRole('link', { name: 'Schedules' }).click();
    await page.getByTestId('schedules').getByRole('cell', { name: 'ui-nightly' }).waitFor();
    await shot('schedules');
    await page.getByRole('link', { name: 'Overview' }).click();
    const row = page.getByTestId('queue-counts').getByRole('row').filter({ hasText: 'ui-train' });
    await row.getByRole('link', { name: '1 FAILED in ui-train' }).waitFor({ timeout: 10_000 });
    await row.getByRole('link', { name: '1 SUCCEEDED in ui-train' }).waitFor();
    await page.getByTestId('queue-counts').getByRole('row').filter({ hasText: 'ui-wait' }).getByRole('link', { name: '1 FAILED in ui-wait' }).waitFor();
    await shot('overview');
  });

  it('signs in with OIDC: code flow with PKCE against the issuer, then the caller\'s roles', async () => {
    const oidcPage = await context.newPage();
    watch(oidcPage);
    await oidcPage.goto(`${base}/ui/`);
    await oidcPage.getByRole('button', { name: /Sign in with OIDC/ }).click();
    await oidcPage.getByTestId('who').waitFor({ timeout: 15_000 });
    expect(await oidcPage.getByTestId('who').textContent()).toBe('user:alice');
    expect(oidcPage.url()).toBe(`${base}/ui/`);
    // A viewer of the project sees its jobs and none of another project's, and the workers without the operator's drain button.
    await oidcPage.goto(`${base}/ui/#/jobs`);
    await oidcPage.locator(`tr[data-job-id="${jobId}"]`).waitFor();
    expect(await oidcPage.locator(`tr[data-job-id="${otherId}"]`).count()).toBe(0);
    expect(await (await call('GET', `/api/v1/jobs/${otherId}`)).body.status).toBe('SUCCEEDED');
    await oidcPage.goto(`${base}/ui/#/jobs/${encodeURIComponent(jobId)}`);
    await oidcPage.getByRole('heading', { name: 'Job ui-train-run' }).waitFor();
    await oidcPage.goto(`${base}/ui/#/workers`);
    await oidcPage.locator(`li[data-worker-id="${WORKER}"]`).waitFor();
    expect(await oidcPage.getByRole('button', { name: 'Drain' }).count()).toBe(0);
    await oidcPage.close();
  });

  it('drains a worker from the workers grid', async () => {
    await page.getByRole('link', { name: 'Workers' }).click();
    const worker = page.locator(`li[data-worker-id="${WORKER}"]`);
    await worker.getByRole('button', { name: 'Drain' }).click();
    await worker.getByRole('button', { name: 'Confirm drain' }).click();
    await waitFor('the worker to drain', async () => ['DRAINING', 'LEFT'].includes((await call('GET', `/api/v1/workers/${WORKER}`)).body.state), 10_000, 100);
  });

  it('logged no console error on any page', () => {
    expect(consoleErrors).toEqual([]);
  });
});
