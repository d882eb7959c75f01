import { UsageError } from './cli-errors.js';
import { buildSubmitBody, jobNameFrom, parseDurationSeconds, parseMemoryMiB, parsePairs } from './submit-body.js';

describe('the submit body from flags and a job file', () => {
  it('maps every flag to its API field', () => {
    expect(buildSubmitBody('train:3', {
      queue: 'gpu', project: 'vision', gpus: '2', gpuModel: 'A100', vcpus: '1.5', memory: '4Gi', parameter: ['lr=0.1', 'eq=a=b'],
      env: ['SEED=1'], arraySize: '10', dependsOn: ['a,b', 'c'], timeout: '2h', priority: '5', tag: ['team=cv'],
    })).toEqual({
      definition: 'train:3', name: 'train', queue: 'gpu', project: 'vision', priority: 5,
      overrides: { resources: { gpus: 2, gpuModel: 'A100', vcpus: 1.5, memoryMiB: 4096 }, environment: { SEED: '1' } },
      parameters: { lr: '0.1', eq: 'a=b' }, tags: { team: 'cv' }, array: { size: 10 },
      dependsOn: [{ jobId: 'a' }, { jobId: 'b' }, { jobId: 'c' }], timeoutSeconds: 7200,
    });
  });

  it('takes the file as the base and lays the flags over it', () => {
    const file = { name: 'from-file', queue: 'q1', definition: 'd', parameters: { a: '1', b: '2' }, overrides: { resources: { vcpus: 2 } } };
    expect(buildSubmitBody(undefined, { queue: 'q2', parameter: ['b=3'], gpus: '1' }, file)).toEqual({
      name: 'from-file', queue: 'q2', definition: 'd', parameters: { a: '1', b: '3' }, overrides: { resources: { vcpus: 2, gpus: 1 } },
    });
    expect(file.parameters).toEqual({ a: '1', b: '2' });
  });

  it('refuses what the API would refuse later, naming the flag', () => {
    expect(() => buildSubmitBody('d', {})).toThrow('a queue is needed: --queue <name>, or queue: in the job file');
    expect(() => buildSubmitBody(undefined, { queue: 'q' })).toThrow(UsageError);
    expect(() => buildSubmitBody('d', { queue: 'q' }, ['list'])).toThrow('the job file must hold a mapping');
    expect(() => buildSubmitBody('d', { queue: 'q', gpus: '-1' })).toThrow('--gpus must be a whole number of at least 0; got "-1"');
    expect(() => buildSubmitBody('d', { queue: 'q', arraySize: '1' })).toThrow('--array-size must be a whole number of at least 2');
    expect(() => buildSubmitBody('d', { queue: 'q', vcpus: 'many' })).toThrow('--vcpus must be a positive number');
    expect(() => parsePairs('--env', ['NOVALUE'])).toThrow('--env takes KEY=VALUE; got "NOVALUE"');
  });

  it('reads memory sizes and durations', () => {
    expect(parseMemoryMiB('512')).toBe(512);
    expect(parseMemoryMiB('512Mi')).toBe(512);
    expect(parseMemoryMiB('2G')).toBe(2048);
    expect(parseMemoryMiB('1.5Gi')).toBe(1536);
    expect(() => parseMemoryMiB('0.3Mi')).toThrow('whole number of MiB');
    expect(parseDurationSeconds('90')).toBe(90);
    expect(parseDurationSeconds('15m')).toBe(900);
    expect(parseDurationSeconds('1d')).toBe(86_400);
    expect(() => parseDurationSeconds('soon')).toThrow('--timeout takes seconds');
    expect(jobNameFrom('my.def:2')).toBe('my-def');
  });
});
