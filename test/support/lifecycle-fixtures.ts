import type { DataSource } from 'typeorm';
import { applyCommands, type LifecycleCommand } from '#libs/db';

/**
 * Moves a job to `target` the only way a status can move: through the
 * lifecycle writer, one real command at a time (placed on `workerId`,
 * started, ended with exit 0 or 1; a waiting job is cancelled to fail), for tests that need a job in a state
 * without running a scheduler or a worker.
 */
export async function driveJob(db: DataSource, jobId: string, target: 'RUNNING' | 'SUCCEEDED' | 'FAILED', workerId = 'fixture-worker'): Promise<void> {
  const at = new Date();
  for (;;) {
    const [job]: { status: string; attempt_count: number }[] = await db.query(`SELECT status, attempt_count FROM jobs WHERE id = $1`, [jobId]);
    if (job.status === target) return;
    const attempt = job.attempt_count;
    let command: LifecycleCommand['command'];
    switch (job.status) {
      case 'RUNNABLE': command = target === 'FAILED' ? { type: 'cancel', reason: 'Cancelled by the test' } : { type: 'place', workerId, gpuDevices: [] }; break;
      case 'STARTING': command = { type: 'container-started', attempt, workerId, startedAt: at }; break;
      case 'RUNNING': command = { type: 'attempt-ended', attempt, stoppedAt: new Date(), end: { kind: 'exited', exitCode: target === 'SUCCEEDED' ? 0 : 1, oomKilled: false } }; break;
      default: command = { type: 'cancel', reason: 'Cancelled by the test' };
    }
    const [applied] = await applyCommands(db, [{ jobId, command }]);
    if (applied.transition.outcome !== 'applied') throw new Error(`cannot drive job ${jobId} from ${job.status} to ${target}: ${JSON.stringify(applied.transition)}`);
  }
}
