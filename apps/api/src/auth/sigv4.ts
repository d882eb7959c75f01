import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { ApiError } from '../common/api-error.js';

/**
 * AWS Signature Version 4, verified on our side: what AWS's own endpoints do
 * with a signed request, so that unmodified AWS clients (SDKs, the AWS CLI)
 * authenticate with a gpubatch API key (access key id = the key's id, secret
 * access key = its secret). Pure: the secret and the time are arguments.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
 */

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
/** AWS refuses a request signed more than 15 minutes away from its clock. */
export const MAX_CLOCK_SKEW_MS = 15 * 60_000;
/** The service name clients put in the credential scope for AWS Batch. */
export const SIGV4_SERVICE = 'batch';

/** An authentication failure with the exception name AWS clients expect (x-amzn-ErrorType). */
export class SigV4Error extends ApiError {
  constructor(
    readonly awsType: 'IncompleteSignatureException' | 'InvalidSignatureException' | 'UnrecognizedClientException' | 'MissingAuthenticationTokenException',
    message: string,
  ) {
    super('UNAUTHENTICATED', message);
  }
}

export interface SigV4Credential {
  accessKeyId: string;
  /** YYYYMMDD */
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

/** The request as it arrived: raw path and query, lower-case header names, the body's bytes. */
export interface SignedRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer | string | undefined;
}

export function isSigV4(authorization: string | undefined): authorization is string {
  return typeof authorization === 'string' && authorization.startsWith(`${SIGV4_ALGORITHM} `);
}

/** Reads `AWS4-HMAC-SHA256 Credential=<id>/<date>/<region>/<service>/aws4_request, SignedHeaders=a;b, Signature=<hex>`. */
export function parseSigV4Authorization(authorization: string): SigV4Credential {
  const fields = new Map<string, string>();
  for (const part of authorization.slice(SIGV4_ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!credential || !signedHeaders || !signature) {
    throw new SigV4Error('IncompleteSignatureException', 'Authorization header requires Credential, SignedHeaders and Signature');
  }
  const scope = credential.split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request' || !/^\d{8}$/.test(scope[1]!) || !scope[0]) {
    throw new SigV4Error('IncompleteSignatureException', 'Credential must be <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request');
  }
  if (!/^[0-9a-f]{64}$/.test(signature)) throw new SigV4Error('IncompleteSignatureException', 'Signature must be 64 hexadecimal digits');
  const headers = signedHeaders.split(';');
  if (headers.some((h) => !/^[a-z0-9-]+$/.test(h))) throw new SigV4Error('IncompleteSignatureException', 'SignedHeaders must be lower-case header names separated by ;');
  return { accessKeyId: scope[0], date: scope[1]!, region: scope[2]!, service: scope[3]!, signedHeaders: headers, signature };
}

/** encodeURIComponent plus the characters RFC 3986 reserves and it leaves alone (what AWS's signers do). */
function escapeUri(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function decodeOrKeep(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** The path as AWS signs it for every service but S3: dot segments resolved, then each character encoded again. */
export function canonicalPath(rawPath: string): string {
  const segments: string[] = [];
  for (const segment of rawPath.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const normalized = `${rawPath.startsWith('/') ? '/' : ''}${segments.join('/')}${segments.length > 0 && rawPath.endsWith('/') ? '/' : ''}`;
  return escapeUri(normalized).replace(/%2F/g, '/');
}

/** Query parameters decoded, re-encoded strictly, sorted by name then value. */
export function canonicalQuery(rawQuery: string): string {
  const pairs = rawQuery.split('&').filter((p) => p !== '').map((p) => {
    const eq = p.indexOf('=');
    const [k, v] = eq < 0 ? [p, ''] : [p.slice(0, eq), p.slice(eq + 1)];
    return [escapeUri(decodeOrKeep(k)), escapeUri(decodeOrKeep(v))] as const;
  }).filter(([k]) => k !== 'X-Amz-Signature');
  pairs.sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The canonical request: what both sides hash; any difference in method, path, query, signed headers or body changes it. */
export function canonicalRequest(req: SignedRequest, signedHeaders: string[], payloadHash: string): string {
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  const query = q < 0 ? '' : req.url.slice(q + 1);
  const headerLines = signedHeaders.map((name) => {
    const raw = req.headers[name];
    const value = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
    return `${name}:${value.trim().replace(/\s+/g, ' ')}\n`;
  }).join('');
  return [req.method.toUpperCase(), canonicalPath(path), canonicalQuery(query), headerLines, signedHeaders.join(';'), payloadHash].join('\n');
}

/** kSigning = HMAC chain over date, region, service and "aws4_request", keyed by "AWS4" + secret. */
export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return [SIGV4_ALGORITHM, amzDate, scope, sha256Hex(canonical)].join('\n');
}

function header(req: SignedRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** 20150830T123600Z as epoch ms, or NaN. */
function parseAmzDate(value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : NaN;
}

/**
 * Checks everything a signature binds (scope, time, signed headers, body
 * hash) and the signature itself against `secret`; throws a SigV4Error with
 * AWS's exception name and a message saying which check failed.
 */
export function verifySigV4(req: SignedRequest, credential: SigV4Credential, secret: string, now: number): void {
  if (credential.service !== SIGV4_SERVICE) {
    throw new SigV4Error('InvalidSignatureException', `Credential should be scoped to correct service: '${SIGV4_SERVICE}', not '${credential.service}'`);
  }
  for (const required of ['host', 'x-amz-date']) {
    if (!credential.signedHeaders.includes(required)) throw new SigV4Error('IncompleteSignatureException', `SignedHeaders must include ${required}`);
  }
  const amzDate = header(req, 'x-amz-date') ?? '';
  const at = parseAmzDate(amzDate);
  if (Number.isNaN(at)) throw new SigV4Error('IncompleteSignatureException', 'X-Amz-Date must be YYYYMMDDTHHMMSSZ');
  if (!amzDate.startsWith(credential.date)) throw new SigV4Error('InvalidSignatureException', 'Credential date does not match X-Amz-Date');
  if (Math.abs(now - at) > MAX_CLOCK_SKEW_MS) {
    throw new SigV4Error('InvalidSignatureException', `Signature expired: ${amzDate} is more than 15 minutes away from the server's time ${new Date(now).toISOString()}`);
  }
  const bodyHash = sha256Hex(req.body ?? '');
  const claimed = header(req, 'x-amz-content-sha256');
  // An UNSIGNED-PAYLOAD (or a hash of another body) would leave the body unauthenticated: refused.
  if (claimed !== undefined && claimed !== bodyHash) throw new SigV4Error('InvalidSignatureException', 'X-Amz-Content-Sha256 does not match the request body');
  const scope = `${credential.date}/${credential.region}/${credential.service}/aws4_request`;
  const canonical = canonicalRequest(req, credential.signedHeaders, bodyHash);
  const expected = createHmac('sha256', signingKey(secret, credential.date, credential.region, credential.service))
    .update(stringToSign(amzDate, scope, canonical)).digest();
  const given = Buffer.from(credential.signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new SigV4Error('InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key (the secret part of the gpubatch API key) and signing method.');
  }
}
