import { createCipheriv, randomBytes } from 'node:crypto';
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
    expect(a).toMatch(/^v2:[0-9a-f]{8}:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]*$/);
    expect(Buffer.from(a.split(':')[2], 'base64')).toHaveLength(12);
    expect(box.decrypt('TOKEN', a)).toBe('hunter2');
    expect(box.decryptAll(box.encryptAll({ A: '1', B: '' }))).toEqual({ A: '1', B: '' });
  });

  it('refuses a value altered, moved to another name, or sealed under another key', () => {
    const box = SecretBox.fromEnv(key)!;
    const sealed = box.encrypt('TOKEN', 'hunter2');
    const [v, kid, iv, tag, data] = sealed.split(':');
    const flipped = Buffer.from(data, 'base64');
    flipped[0] ^= 1;
    expect(() => box.decrypt('TOKEN', [v, kid, iv, tag, flipped.toString('base64')].join(':'))).toThrow();
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

describe('SecretBox key rotation', () => {
  const oldKey = randomBytes(32).toString('base64');
  const newKey = randomBytes(32).toString('base64');

  it('names its key in each value, and opens values of a previous key given in GPUBATCH_SECRET_KEY_PREVIOUS', () => {
    const before = SecretBox.fromEnv(oldKey)!;
    const sealedBefore = before.encrypt('TOKEN', 'hunter2');
    expect(sealedBefore.split(':')[1]).toBe(before.currentKeyId);
    const after = SecretBox.fromEnv(newKey, ` ${randomBytes(32).toString('base64')}, ${oldKey} `)!;
    expect(after.currentKeyId).not.toBe(before.currentKeyId);
    expect(after.decrypt('TOKEN', sealedBefore)).toBe('hunter2');
    expect(after.isCurrent(sealedBefore)).toBe(false);
    const sealedAfter = after.encrypt('TOKEN', 'hunter2');
    expect(after.isCurrent(sealedAfter)).toBe(true);
    // Without the old key, its values do not open, and the error names the key they need.
    expect(() => SecretBox.fromEnv(newKey)!.decrypt('TOKEN', sealedBefore)).toThrow(new RegExp(before.currentKeyId));
    expect(() => before.decrypt('TOKEN', sealedAfter)).toThrow(/GPUBATCH_SECRET_KEY_PREVIOUS/);
  });

  it('opens v1 values (before key ids) under whichever configured key made them', () => {
    const v1 = (key: string, name: string, plaintext: string) => {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', Buffer.from(key, 'base64'), iv);
      cipher.setAAD(Buffer.from(name));
      const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), data.toString('base64')].join(':');
    };
    const box = SecretBox.fromEnv(newKey, oldKey)!;
    expect(box.decrypt('A', v1(oldKey, 'A', 'from the old key'))).toBe('from the old key');
    expect(box.decrypt('A', v1(newKey, 'A', 'from the new key'))).toBe('from the new key');
    expect(() => box.decrypt('A', v1(randomBytes(32).toString('base64'), 'A', 'x'))).toThrow(/none of the configured keys/);
    expect(() => box.decrypt('A', 'v3:whatever')).toThrow(/not a sealed value/);
  });

  it('refuses a malformed previous key, or previous keys without a current one, naming the variable', () => {
    expect(() => SecretBox.fromEnv(newKey, 'short')).toThrow(/GPUBATCH_SECRET_KEY_PREVIOUS must be 32 bytes/);
    expect(() => SecretBox.fromEnv(undefined, oldKey)).toThrow(/GPUBATCH_SECRET_KEY_PREVIOUS is set but GPUBATCH_SECRET_KEY is not/);
  });
});
