import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { ConfigError } from './env-reader.js';

/** What names a key in a sealed value: the first 8 hex digits of SHA-256 of the key (no use to an attacker). */
function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

function parseKey(raw: string, variable: string): Buffer {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(raw)) throw new ConfigError(variable, 'must be 32 bytes in base64 (openssl rand -base64 32)');
  const key = Buffer.from(raw, 'base64');
  if (key.length !== 32) throw new ConfigError(variable, `must be 32 bytes in base64 (openssl rand -base64 32), got ${key.length} bytes`);
  return key;
}

/**
 * Secret environment values at rest: AES-256-GCM under GPUBATCH_SECRET_KEY
 * (32 bytes, base64), a random 12-byte IV per value and its 16-byte tag.
 * Stored as `v2:<key id>:<iv>:<tag>:<ciphertext>` (`v1:` values, made before
 * key ids, name no key and are tried under each). The variable's name is
 * bound to the value as associated data, so a ciphertext moved to another
 * name does not decrypt.
 *
 * Rotation: the new key goes in GPUBATCH_SECRET_KEY and the old ones in
 * GPUBATCH_SECRET_KEY_PREVIOUS (comma-separated). New values are sealed under
 * the new key; values under an old one still open; `npm run secrets:reseal`
 * re-seals every stored value under the new key, after which the old ones
 * can go (docs/containers-and-secrets.md).
 */
export class SecretBox {
  private readonly keys: Map<string, Buffer>;
  readonly currentKeyId: string;

  private constructor(private readonly current: Buffer, previous: Buffer[]) {
    this.currentKeyId = keyId(current);
    this.keys = new Map([[this.currentKeyId, current], ...previous.map((k) => [keyId(k), k] as [string, Buffer])]);
  }

  /** The box for a base64 key (and previous keys); null when none is set. A malformed key stops start-up, naming its variable. */
  static fromEnv(raw: string | undefined, previousRaw?: string, variable = 'GPUBATCH_SECRET_KEY'): SecretBox | null {
    const value = raw?.trim();
    const previousVariable = `${variable}_PREVIOUS`;
    const previous = (previousRaw ?? '').split(',').map((p) => p.trim()).filter(Boolean).map((p) => parseKey(p, previousVariable));
    if (!value) {
      if (previous.length) throw new ConfigError(previousVariable, `is set but ${variable} is not: set the new key there`);
      return null;
    }
    return new SecretBox(parseKey(value, variable), previous);
  }

  encrypt(name: string, plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.current, iv);
    cipher.setAAD(Buffer.from(name, 'utf8'));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v2', this.currentKeyId, iv.toString('base64'), cipher.getAuthTag().toString('base64'), data.toString('base64')].join(':');
  }

  /** Throws when the value was not made under any of this box's keys (or was altered). */
  decrypt(name: string, sealed: string): string {
    const parts = sealed.split(':');
    if (parts[0] === 'v2' && parts.length === 5) {
      const key = this.keys.get(parts[1]!);
      if (!key) throw new Error(`secret ${name} was sealed under key ${parts[1]}, which is neither GPUBATCH_SECRET_KEY nor in GPUBATCH_SECRET_KEY_PREVIOUS`);
      return open(key, name, parts[2]!, parts[3]!, parts[4]!);
    }
    if (parts[0] === 'v1' && parts.length === 4) {
      for (const key of this.keys.values()) {
        try {
          return open(key, name, parts[1]!, parts[2]!, parts[3]!);
        } catch {
          // not this key: try the next
        }
      }
      throw new Error(`secret ${name} opens under none of the configured keys`);
    }
    throw new Error(`secret ${name} is not a sealed value`);
  }

  /** Sealed under the current key already (nothing to re-seal). */
  isCurrent(sealed: string): boolean {
    return sealed.startsWith(`v2:${this.currentKeyId}:`);
  }

  /** A worker's report-signing key at rest (bound to the worker id): opened only by the scheduler. */
  sealSigningKey(workerId: string, key: string): string {
    return this.encrypt(signingKeyName(workerId), key);
  }

  openSigningKey(workerId: string, sealed: string): string {
    return this.decrypt(signingKeyName(workerId), sealed);
  }

  encryptAll(values: Record<string, string>): Record<string, string> {
    return Object.fromEntries(Object.entries(values).map(([name, value]) => [name, this.encrypt(name, value)]));
  }

  decryptAll(sealed: Record<string, string>): Record<string, string> {
    return Object.fromEntries(Object.entries(sealed).map(([name, value]) => [name, this.decrypt(name, value)]));
  }
}

/** The name a worker's signing key is sealed under. */
export function signingKeyName(workerId: string): string {
  return `worker-signing-key:${workerId}`;
}

/**
 * The name a key's sealed SigV4 secret is bound to (AES-GCM associated data):
 * a sealed value copied onto another key's row does not open.
 */
export function sigV4SecretName(keyId: string): string {
  return `api-key:${keyId}`;
}

function open(key: Buffer, name: string, iv: string, tag: string, data: string): string {
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
  decipher.setAAD(Buffer.from(name, 'utf8'));
  decipher.setAuthTag(Buffer.from(tag, 'base64'));
  return Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()]).toString('utf8');
}
