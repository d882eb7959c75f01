import { parseDescriptor } from './worker-registry.js';

const valid = {
  id: 'w1', pool: 'default', hostname: 'h', vcpus: 8, memoryMiB: 1024, state: 'ACTIVE', heartbeatAt: 1, startedAt: 1,
  labels: { zone: 'a' }, gpus: [{ index: 0, uuid: null, model: 'A100', memoryMiB: 1 }, { index: 1, uuid: null, model: 'A100', memoryMiB: 1 }],
};

describe('parseDescriptor: nonsense capacity never joins the pool', () => {
  it('accepts a sound descriptor', () => {
    expect(parseDescriptor(JSON.stringify(valid))).toEqual(valid);
  });

  it('keeps the attempts a worker lists, and drops a malformed list without refusing the worker', () => {
    expect(parseDescriptor(JSON.stringify({ ...valid, attempts: ['j#1'] }))?.attempts).toEqual(['j#1']);
    expect(parseDescriptor(JSON.stringify({ ...valid, attempts: [1] }))).toEqual({ ...valid, attempts: undefined });
  });

  it.each([
    ['not JSON', '{'],
    ['zero vCPUs', JSON.stringify({ ...valid, vcpus: 0 })],
    ['negative memory', JSON.stringify({ ...valid, memoryMiB: -1 })],
    ['fractional memory', JSON.stringify({ ...valid, memoryMiB: 1.5 })],
    ['duplicate GPU indices', JSON.stringify({ ...valid, gpus: [valid.gpus[0], valid.gpus[0]] })],
    ['a negative GPU index', JSON.stringify({ ...valid, gpus: [{ ...valid.gpus[0], index: -1 }] })],
    ['a GPU without a model', JSON.stringify({ ...valid, gpus: [{ ...valid.gpus[0], model: '' }] })],
    ['an invalid label', JSON.stringify({ ...valid, labels: { 'bad key': 'x' } })],
    ['an unknown state', JSON.stringify({ ...valid, state: 'PAUSED' })],
  ])('refuses %s', (_case, json) => {
    expect(parseDescriptor(json)).toBeNull();
  });
});
