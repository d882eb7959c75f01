import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QueueNames, type IntakePayload } from '#libs/queue';
import { testEnv } from './test-env.js';

/** Every intake message of a job queue not yet taken (tests that run no scheduler: they all stay). */
export async function intakeMessages(queue: string): Promise<IntakePayload[]> {
  const redis = new Redis(testEnv().redisUrl);
  const intake = new Queue<IntakePayload>(QueueNames.intake(queue), { connection: redis });
  try {
    return (await intake.getJobs(['prioritized', 'waiting', 'active'])).map((j) => j.data);
  } finally {
    await intake.close();
    redis.disconnect();
  }
}

/** The job ids the messages carry. */
export const intakeJobIds = (messages: IntakePayload[]): string[] => messages.flatMap((m) => m.jobIds ?? (m.jobId ? [m.jobId] : []));
