import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ConfigError } from './env-reader.js';

/**
 * Secret environment values at rest: AES-256-GCM under GPUBATCH_SECRET_KEY
 * (32 bytes, base64), a random 12-byte IV per value and its 16-byte tag.
 * Stored as `v1:<iv>:<tag>:<ciphertext>`, each part base64. The variable's
 * name is bound to the value as associated data, so a ciphertext moved to
 * another name does not decrypt.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /** The box for a base64 key; null when none is set. A malformed key stops start-up. */
  static fromEnv(raw: string | undefined, variable = 'GPUBATCH_SECRET_KEY'): SecretBox | null {
    const value = raw?.trim();
    if (!value) return null;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) throw new ConfigError(variable, 'must be 32 bytes in base64 (openssl rand -base64 32)');
    const key = Buffer.from(value, 'base64');
    if (key.length !== 32) throw new ConfigError(variable, `must be 32 bytes in base64 (openssl rand -base64 32), got ${key.length} bytes`);
    return new SecretBox(key);
  }

  encrypt(name: string, plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(name, 'utf8'));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), data.toString('base64')].join(':');
  }

  /** Throws when the value was not made under this key (or was altered). */
  decrypt(name: string, sealed: string): string {
    const [version, iv, tag, data] = sealed.split(':');
    if (version !== 'v1' || !iv || !tag || data === undefined) throw new Error(`secret ${name} is not a v1 sealed value`);
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
    decipher.setAAD(Buffer.from(name, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()]).toString('utf8');
  }

  encryptAll(values: Record<string, string>): Record<string, string> {
    return Object.fromEntries(Object.entries(values).map(([name, value]) => [name, this.encrypt(name, value)]));
  }

  decryptAll(sealed: Record<string, string>): Record<string, string> {
    return Object.fromEntries(Object.entries(sealed).map(([name, value]) => [name, this.decrypt(name, value)]));
  }
}
