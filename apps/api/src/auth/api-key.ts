import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** `gpb_<id>_<secret>`: the id names the row, the secret (32 random bytes, base64url) is kept only as its SHA-256. */
const KEY_PATTERN = /^gpb_([A-Za-z0-9]{1,32})_([A-Za-z0-9_-]{32,512})$/;

export interface ParsedKey { id: string; secret: string }

export function parseApiKey(token: string): ParsedKey | undefined {
  const m = KEY_PATTERN.exec(token);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

export function newApiKey(): { id: string; secret: string; token: string; hash: Buffer } {
  const id = randomBytes(9).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, secret, token: `gpb_${id}_${secret}`, hash: hashSecret(secret) };
}

export { sigV4SecretName } from '#libs/config';

/**
 * SHA-256, not a slow password hash: the secret is 256 random bits, so there
 * is nothing to brute-force, and a fast hash keeps auth off the request's
 * critical path.
 */
export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

export function secretMatches(secret: string, hash: Buffer): boolean {
  const candidate = hashSecret(secret);
  return hash.length === candidate.length && timingSafeEqual(candidate, hash);
}
