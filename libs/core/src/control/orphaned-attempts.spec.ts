import { OrphanedAttempts } from './orphaned-attempts.js';

describe('OrphanedAttempts: stop containers of attempts that are no longer active', () => {
  const worker = (listed: string[]) => [{ workerId: 'w-1', listed: new Set(listed) }];
  const activeOnly = (key: string) => (_w: string, k: string) => k === key;

  it('asks for a terminate once an inactive attempt has been listed for the grace, then at most once per period', () => {
    const orphans = new OrphanedAttempts(3000, 60_000);
    expect(orphans.decide(worker(['j#1', 'j#2']), activeOnly('j#2'), 0)).toEqual([]);
    expect(orphans.decide(worker(['j#1', 'j#2']), activeOnly('j#2'), 2999)).toEqual([]);
    expect(orphans.decide(worker(['j#1', 'j#2']), activeOnly('j#2'), 3000)).toEqual([{ workerId: 'w-1', key: 'j#1' }]);
    expect(orphans.decide(worker(['j#1']), activeOnly('j#2'), 30_000)).toEqual([]);
    expect(orphans.decide(worker(['j#1']), activeOnly('j#2'), 63_000)).toEqual([{ workerId: 'w-1', key: 'j#1' }]);
  });

  it('starts over when the worker stops listing it, and ignores workers that do not list attempts', () => {
    const orphans = new OrphanedAttempts(3000, 60_000);
    orphans.decide(worker(['j#1']), () => false, 0);
    orphans.decide(worker([]), () => false, 1000);
    expect(orphans.decide(worker(['j#1']), () => false, 3500)).toEqual([]);
    expect(orphans.decide([{ workerId: 'w-old', listed: undefined }], () => false, 100_000)).toEqual([]);
  });
});
