import { randomBytes } from 'node:crypto';
import { ConfigError } from './env-reader.js';
import { SecretBox } from './secrets.js';

const key = randomBytes(32).toString('base64');

describe('SecretBox', () => {
  it('seals with AES-256-GCM, a fresh IV per value, and opens what it sealed', () => {
    const box = SecretBox.fromEnv(key)!;
    const a = box.encrypt('TOKEN', 'hunter2');
    const b = box.encrypt('TOKEN', 'hunter2');
    expect(a).not.toBe(b);
    expect(a).not.toContain('hunter2');
    expect(a).toMatch(/^v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]*$/);
    expect(Buffer.from(a.split(':')[1], 'base64')).toHaveLength(12);
    expect(box.decrypt('TOKEN', a)).toBe('hunter2');
    expect(box.decryptAll(box.encryptAll({ A: '1', B: '' }))).toEqual({ A: '1', B: '' });
  });

  it('refuses a value altered, moved to another name, or sealed under another key', () => {
    const box = SecretBox.fromEnv(key)!;
    const sealed = box.encrypt('TOKEN', 'hunter2');
    const [v, iv, tag, data] = sealed.split(':');
    const flipped = Buffer.from(data, 'base64');
    flipped[0] ^= 1;
    expect(() => box.decrypt('TOKEN', [v, iv, tag, flipped.toString('base64')].join(':'))).toThrow();
    expect(() => box.decrypt('OTHER', sealed)).toThrow();
    expect(() => SecretBox.fromEnv(randomBytes(32).toString('base64'))!.decrypt('TOKEN', sealed)).toThrow();
  });

  it('is off without a key, and stops start-up on a malformed one, naming the variable', () => {
    expect(SecretBox.fromEnv(undefined)).toBeNull();
    expect(SecretBox.fromEnv('  ')).toBeNull();
    expect(() => SecretBox.fromEnv(randomBytes(16).toString('base64'))).toThrow(ConfigError);
    expect(() => SecretBox.fromEnv(randomBytes(16).toString('base64'))).toThrow(/GPUBATCH_SECRET_KEY must be 32 bytes in base64.*got 16 bytes/);
    expect(() => SecretBox.fromEnv('not base64!')).toThrow(/GPUBATCH_SECRET_KEY/);
  });
});
