import { parseApiKey, newApiKey, secretMatches, hashSecret } from './api-key.js';
import { Caller, limitToProject } from './caller.js';

describe('Caller', () => {
  const caller = (bindings: [string, 'viewer' | 'member' | 'operator' | 'admin'][], project: string | null = null) =>
    new Caller('key:t', limitToProject(bindings.map(([p, role]) => ({ project: p, role })), project));

  it('takes the higher of a project binding and a binding on every project', () => {
    const c = caller([['a', 'member'], ['*', 'viewer']]);
    expect(c.roleIn('a')).toBe('member');
    expect(c.roleIn('b')).toBe('viewer');
    expect(c.can('submit', 'a')).toBe(true);
    expect(c.can('submit', 'b')).toBe(false);
    expect(c.readable()).toBe('all');
  });

  it('needs the role on every project for cluster-wide rights', () => {
    expect(caller([['a', 'admin']]).canEverywhere('operate')).toBe(false);
    expect(caller([['*', 'operator']]).canEverywhere('operate')).toBe(true);
    expect(caller([['*', 'operator']]).canEverywhere('admin')).toBe(false);
  });

  it('a key limited to a project keeps only its roles there, even an admin binding on every project', () => {
    const c = caller([['*', 'admin'], ['b', 'admin'], ['a', 'viewer']], 'a');
    expect([...c.roles]).toEqual([['a', 'admin']]);
    expect(c.canEverywhere('read')).toBe(false);
    expect(c.readable()).toEqual(['a']);
  });

  it('a caller with no bindings can do nothing', () => {
    const c = caller([]);
    expect(c.canSomewhere('read')).toBe(false);
    expect(c.readable()).toEqual([]);
  });
});

describe('API keys', () => {
  it('makes gpb_<id>_<secret> keys that parse back and match only their own hash', () => {
    const k = newApiKey();
    const parsed = parseApiKey(k.token)!;
    expect(parsed.id).toMatch(/^[0-9a-f]{18}$/);
    expect(secretMatches(parsed.secret, k.hash)).toBe(true);
    expect(secretMatches(parsed.secret + 'x', k.hash)).toBe(false);
    expect(secretMatches(parsed.secret, hashSecret('other'))).toBe(false);
  });

  it('refuses what is not a key', () => {
    for (const t of ['', 'gpb_', 'gpb_id_short', 'gpb__' + 'a'.repeat(43), 'xyz_id_' + 'a'.repeat(43), `gpb_a-b_${'a'.repeat(43)}`]) {
      expect(parseApiKey(t)).toBeUndefined();
    }
  });
});
