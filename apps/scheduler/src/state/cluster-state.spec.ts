import { RunnableJobs, type RunnableEntry } from './cluster-state.js';

const entry = (id: string): RunnableEntry => ({
  id, queue: 'q', priority: 0, submittedAt: 0, resources: { vcpus: 1, memoryMiB: 512, gpus: 0 }, interruptible: false,
});

describe('RunnableJobs', () => {
  it('tells the placement pass which entries came since it last asked, or that something else changed', () => {
    const runnable = new RunnableJobs();
    const [a, b, c] = [entry('a'), entry('b'), entry('c')];
    runnable.set('a', a);
    // Never asked before: the pass builds its list from the whole map.
    expect(runnable.takeChanges()).toBeUndefined();
    expect(runnable.takeChanges()).toEqual([]);
    runnable.set('b', b).set('c', c).set('b', b);
    expect(runnable.takeChanges()).toEqual([b, c]);
    runnable.set('a', entry('a')); // replaced where it was
    expect(runnable.takeChanges()).toBeUndefined();
    runnable.delete('nothing');
    expect(runnable.takeChanges()).toEqual([]);
    runnable.set('d', entry('d'));
    runnable.delete('c');
    expect(runnable.takeChanges()).toBeUndefined();
    runnable.clear();
    expect(runnable.takeChanges()).toBeUndefined();
    expect([...runnable.keys()]).toEqual([]);
  });
});
