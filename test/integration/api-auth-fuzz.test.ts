import { jest } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { ApiHarness } from '../support/api-harness.js';
import { bearer } from '../support/auth-fixtures.js';

jest.setTimeout(120_000);

/** An OIDC issuer on loopback: its discovery document and its JWKS, with keys made here by jose. */
async function startIssuer(jwks: { keys: JWK[] }): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') res.end(JSON.stringify({ issuer: base, jwks_uri: `${base}/jwks` }));
    else if (req.url === '/jwks') res.end(JSON.stringify(jwks));
    else { res.statusCode = 404; res.end('{}'); }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('OIDC bearer tokens and fuzzed credentials (API, real Postgres, a local JWKS server)', () => {
  let api: ApiHarness;
  let issuer: Awaited<ReturnType<typeof startIssuer>>;
  let good: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  let stranger: typeof good;
  const AUD = 'gpubatch-test';

  const token = (claims: Record<string, unknown>, opts: { key?: typeof good; iss?: string; aud?: string; exp?: number | string; kid?: string } = {}) =>
    new SignJWT({ groups: ['ml-team'], ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? 'k1' })
      .setIssuer(opts.iss ?? issuer.url).setAudience(opts.aud ?? AUD).setSubject('alice')
      .setIssuedAt().setExpirationTime(opts.exp ?? '5m')
      .sign(opts.key ?? good);

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    good = pair.privateKey;
    stranger = (await generateKeyPair('RS256')).privateKey;
    issuer = await startIssuer({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] });
    api = await ApiHarness.start({ OIDC_ISSUER: issuer.url, OIDC_AUDIENCE: AUD });
    await api.request('PUT', '/api/v1/role-bindings', { subject: 'group:ml-team', project: 'oidc-a', role: 'member' });
    await api.request('PUT', '/api/v1/role-bindings', { subject: 'user:bob', project: '*', role: 'admin' });
  });

  afterAll(async () => {
    await api?.close();
    await issuer?.close();
  });

  it('accepts a valid token: its subject is the user, its groups bring their roles', async () => {
    const t = await token({});
    const who = await api.request('GET', '/api/v1/whoami', undefined, bearer(t));
    expect(who.status).toBe(200);
    expect(who.body).toEqual({ id: 'user:alice', roles: [{ project: 'oidc-a', role: 'member' }] });
    expect((await api.request('GET', '/api/v1/audit-log', undefined, bearer(t))).status).toBe(403);
    const bob = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer(issuer.url).setAudience(AUD)
      .setSubject('bob').setExpirationTime('5m').sign(good);
    expect((await api.request('GET', '/api/v1/audit-log', undefined, bearer(bob))).status).toBe(200);
  });

  it('refuses expired, wrong-audience, wrong-issuer, wrongly signed and alg:none tokens with 401', async () => {
    const valid = await token({});
    const [h, p] = valid.split('.');
    const bad = {
      expired: await token({}, { exp: Math.floor(Date.now() / 1000) - 60 }),
      wrongAudience: await token({}, { aud: 'someone-else' }),
      wrongIssuer: await token({}, { iss: 'https://evil.example' }),
      wrongSignature: await token({}, { key: stranger }),
      unknownKid: await token({}, { kid: 'nope' }),
      algNone: `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`,
      algNoneNoDot: `${b64({ alg: 'none' })}.${p}`,
      hs256WithPublicKey: `${b64({ alg: 'HS256', kid: 'k1' })}.${p}.${valid.split('.')[2]}`,
      tamperedPayload: `${h}.${b64({ sub: 'bob', iss: issuer.url, aud: AUD, exp: 9999999999 })}.${valid.split('.')[2]}`,
    };
    for (const [name, t] of Object.entries(bad)) {
      const res = await api.request('GET', '/api/v1/jobs', undefined, bearer(t));
      expect({ name, status: res.status }).toEqual({ name, status: 401 });
    }
  });

  it('never answers a fuzzed Authorization header with a 5xx or with access', async () => {
    const valid = await token({});
    const parts = valid.split('.');
    const header = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.string({ maxLength: 300 }).map((s) => `Bearer ${s}`),
      fc.tuple(fc.stringMatching(/^[A-Za-z0-9]{0,40}$/), fc.stringMatching(/^[A-Za-z0-9_-]{0,80}$/)).map(([id, s]) => `Bearer gpb_${id}_${s}`),
      fc.stringMatching(/^[A-Za-z0-9_-]{43}$/).map((s) => `Bearer gpb_testadmin_${s}`),
      fc.tuple(fc.json(), fc.json(), fc.string({ maxLength: 100 })).map(([a, b, c]) => `Bearer ${b64(a)}.${b64(b)}.${c}`),
      fc.tuple(fc.constantFrom('none', 'HS256', 'RS256', 'ES256', 'PS256', ''), fc.jsonValue()).map(([alg, extra]) =>
        `Bearer ${b64({ alg, kid: 'k1' })}.${b64({ sub: 'alice', iss: issuer.url, aud: AUD, exp: 9999999999, extra })}.${parts[2]}`),
      fc.integer({ min: 0, max: valid.length - 1 }).chain((i) => fc.string({ minLength: 1, maxLength: 1 }).map((ch) => `Bearer ${valid.slice(0, i)}${ch}${valid.slice(i + 1)}`))
        // The last character of a base64url segment carries bits no byte uses: a change there can leave the token as it was.
        .filter((h) => h.slice('Bearer '.length).split('.').some((p, k) => !Buffer.from(p, 'base64url').equals(Buffer.from(parts[k] ?? '', 'base64url')))),
    );
    await fc.assert(fc.asyncProperty(header, fc.constantFrom('/api/v1/jobs', '/api/v1/audit-log', '/api/v1/whoami'), async (authorization: string, url: string) => {
      let res;
      try {
        res = await api.request('GET', url, undefined, { authorization });
      } catch (e) {
        // fetch itself refuses header values with characters HTTP forbids: nothing reached the API.
        if (e instanceof TypeError) return;
        throw e;
      }
      expect(res.status).toBeLessThan(500);
      expect([401, 403]).toContain(res.status);
    }), { numRuns: 300 });
  });
});
