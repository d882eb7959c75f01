import { reasonKind } from './metrics-registry.js';

describe('reason kinds for the waiting-jobs metric', () => {
  it('takes the upper-case word before the colon, and names the rest', () => {
    expect(reasonKind('RESOURCE: needs 4 GPU')).toBe('RESOURCE');
    expect(reasonKind('PRIORITY: 12 jobs ahead in queue train')).toBe('PRIORITY');
    expect(reasonKind('DEPENDENCY: waiting for a, b')).toBe('DEPENDENCY');
    expect(reasonKind('Waiting for the scheduler')).toBe('SCHEDULER');
    expect(reasonKind('Essential container exited with code 3')).toBe('OTHER');
    expect(reasonKind(null)).toBe('OTHER');
  });
});
