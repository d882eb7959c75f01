import { assertTransition, canTransition, InvalidTransitionError, isTerminal, JOB_STATUSES, statusesBefore } from './job-state.js';

describe('job state machine', () => {
  it('follows the AWS Batch happy path', () => {
    const path = ['SUBMITTED', 'RUNNABLE', 'STARTING', 'RUNNING', 'SUCCEEDED'] as const;
    for (let i = 1; i < path.length; i++) expect(canTransition(path[i - 1], path[i])).toBe(true);
  });

  it('never leaves a terminal state', () => {
    for (const terminal of ['SUCCEEDED', 'FAILED'] as const) {
      expect(isTerminal(terminal)).toBe(true);
      for (const to of JOB_STATUSES) expect(canTransition(terminal, to)).toBe(false);
    }
  });

  it('sends a failed attempt with attempts left back to RUNNABLE', () => {
    expect(canTransition('RUNNING', 'RUNNABLE')).toBe(true);
    expect(canTransition('STARTING', 'RUNNABLE')).toBe(true);
  });

  it('rejects skipping placement', () => {
    expect(() => assertTransition('RUNNABLE', 'RUNNING')).toThrow(InvalidTransitionError);
    expect(() => assertTransition('PENDING', 'STARTING')).toThrow('PENDING -> STARTING');
  });

  it('lists the states that may precede a state', () => {
    expect(statusesBefore('RUNNING')).toEqual(['STARTING']);
    expect(statusesBefore('SUCCEEDED').sort()).toEqual(['PENDING', 'RUNNING', 'STARTING']); // PENDING: array parents
  });
});
