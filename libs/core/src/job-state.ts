/**
 * Job states, named as in AWS Batch so its users feel at home. Which moves
 * between them are allowed, and on what command, is the lifecycle table
 * (lifecycle.ts).
 */
export const JOB_STATUSES = ['SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING', 'RUNNING', 'SUCCEEDED', 'FAILED'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
