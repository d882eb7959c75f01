import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import {
  canonicalQuery, canonicalRequest, parseSigV4Authorization, sha256Hex, signingKey, SigV4Error, stringToSign, verifySigV4, type SignedRequest,
} from './sigv4.js';

function toBytes(v: string | ArrayBuffer | ArrayBufferView | undefined): string | Uint8Array | undefined {
  if (v === undefined || typeof v === 'string') return v;
  return ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v);
}

/** The hash the SDK's signer asks for (a plain SHA-256, or an HMAC when given a key), over Node's crypto. */
class NodeSha256 {
  private h: Hash | Hmac;
  private readonly secret?: string | Uint8Array;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) { this.secret = toBytes(secret); this.h = this.fresh(); }
  private fresh() { return this.secret ? createHmac('sha256', this.secret) : createHash('sha256'); }
  update(data: string | ArrayBuffer | ArrayBufferView) { this.h.update(toBytes(data)!); }
  async digest() { return new Uint8Array(this.h.digest()); }
  reset() { this.h = this.fresh(); }
}

const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';

/** Signs like @aws-sdk/client-batch does (the SDK's own signer), returning the request as our server would see it. */
async function sdkSigned(opts: { path: string; query?: Record<string, string | string[]>; body?: string; method?: string; at: Date; secret?: string }): Promise<SignedRequest> {
  const signer = new SignatureV4({ service: 'batch', region: 'eu-west-1', sha256: NodeSha256, credentials: { accessKeyId: 'abc123', secretAccessKey: opts.secret ?? SECRET } });
  const signed = await signer.sign({
    method: opts.method ?? 'POST', protocol: 'http:', hostname: '127.0.0.1', port: 3000, path: opts.path, query: opts.query ?? {},
    headers: { host: '127.0.0.1:3000', 'content-type': 'application/json', ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}) },
    body: opts.body,
  }, { signingDate: opts.at });
  const qs = Object.entries(opts.query ?? {}).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${encodeURIComponent(k)}=${encodeURIComponent(x)}`)).join('&');
  const headers = Object.fromEntries(Object.entries(signed.headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { method: signed.method, url: opts.path + (qs ? `?${qs}` : ''), headers, body: opts.body };
}

describe('AWS Signature V4 verification', () => {
  it("reproduces AWS's documented example (IAM ListUsers, 20150830T123600Z)", () => {
    const req: SignedRequest = {
      method: 'GET', url: '/?Action=ListUsers&Version=2010-05-08', body: '',
      headers: { host: 'iam.amazonaws.com', 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'x-amz-date': '20150830T123600Z' },
    };
    const canonical = canonicalRequest(req, ['content-type', 'host', 'x-amz-date'], sha256Hex(''));
    expect(sha256Hex(canonical)).toBe('f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59');
    const key = signingKey(SECRET, '20150830', 'us-east-1', 'iam');
    expect(key.toString('hex')).toBe('c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9');
    const signature = createHmac('sha256', key).update(stringToSign('20150830T123600Z', '20150830/us-east-1/iam/aws4_request', canonical)).digest('hex');
    expect(signature).toBe('5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7');
  });

  it("accepts what the AWS SDK's signer produces: a JSON body, an encoded ARN in the path, a repeated query parameter", async () => {
    const at = new Date('2026-12-02T10:00:00Z');
    const cases = [
      await sdkSigned({ path: '/v1/submitjob', body: JSON.stringify({ jobName: 'a b', jobQueue: 'q' }), at }),
      await sdkSigned({ path: `/v1/tags/${encodeURIComponent('arn:aws:batch:local:000000000000:job-queue/q')}`, method: 'GET', at }),
      await sdkSigned({ path: '/v1/tags/x', method: 'DELETE', query: { tagKeys: ['b', 'a c'] }, at }),
    ];
    for (const req of cases) {
      const credential = parseSigV4Authorization(String(req.headers.authorization));
      expect(credential).toMatchObject({ accessKeyId: 'abc123', region: 'eu-west-1', service: 'batch' });
      expect(() => verifySigV4(req, credential, SECRET, at.getTime() + 60_000)).not.toThrow();
    }
  });

  it('refuses a wrong secret, an altered body, path or query, and an old signature, each with AWS exception names', async () => {
    const at = new Date('2026-12-02T10:00:00Z');
    const req = await sdkSigned({ path: '/v1/describejobs', body: '{"jobs":["a"]}', at });
    const credential = parseSigV4Authorization(String(req.headers.authorization));
    const failure = (r: SignedRequest, secret = SECRET, now = at.getTime()) => {
      try {
        verifySigV4(r, credential, secret, now);
        return 'accepted';
      } catch (e) {
        return e instanceof SigV4Error ? `${e.awsType}: ${e.message.split(':')[0]}` : String(e);
      }
    };
    expect(failure(req)).toBe('accepted');
    expect(failure(req, 'another-secret')).toMatch(/^InvalidSignatureException: The request signature we calculated/);
    expect(failure({ ...req, body: '{"jobs":["b"]}' })).toMatch(/^InvalidSignatureException/);
    expect(failure({ ...req, url: '/v1/listjobs' })).toMatch(/^InvalidSignatureException/);
    expect(failure({ ...req, url: '/v1/describejobs?x=1' })).toMatch(/^InvalidSignatureException/);
    expect(failure(req, SECRET, at.getTime() + 16 * 60_000)).toBe('InvalidSignatureException: Signature expired');
    expect(failure({ ...req, headers: { ...req.headers, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } })).toMatch(/^InvalidSignatureException: X-Amz-Content-Sha256/);
  });

  it('refuses malformed Authorization headers and credentials scoped to another service', () => {
    expect(() => parseSigV4Authorization('AWS4-HMAC-SHA256 Credential=x')).toThrow(SigV4Error);
    expect(() => parseSigV4Authorization(`AWS4-HMAC-SHA256 Credential=k/2026/r/batch/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}`)).toThrow(/YYYYMMDD/);
    const credential = parseSigV4Authorization(`AWS4-HMAC-SHA256 Credential=k/20261202/r/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`);
    expect(() => verifySigV4({ method: 'POST', url: '/', headers: {}, body: '' }, credential, SECRET, 0)).toThrow(/scoped to correct service/);
  });

  it('sorts and strictly re-encodes query parameters', () => {
    expect(canonicalQuery('b=2&a=3&a=1&c=x%20y&d=*')).toBe('a=1&a=3&b=2&c=x%20y&d=%2A');
  });
});
