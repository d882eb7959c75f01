import { existsSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Where every job container finds its gpubatch directory. */
export const CONTAINER_JOB_DIR = '/gpubatch';

/** Files of the checkpoint handshake, inside the job directory. */
export const JobFiles = {
  checkpoint: 'checkpoint',
  notice: 'preemption-notice',
  ack: 'preemption-ack',
} as const;

/** The environment that points a container at its directory. */
export function jobDirEnvironment(): Record<string, string> {
  return {
    GPUBATCH_CHECKPOINT_DIR: `${CONTAINER_JOB_DIR}/${JobFiles.checkpoint}`,
    GPUBATCH_PREEMPTION_NOTICE: `${CONTAINER_JOB_DIR}/${JobFiles.notice}`,
    GPUBATCH_PREEMPTION_ACK: `${CONTAINER_JOB_DIR}/${JobFiles.ack}`,
  };
}

/** One directory per job (not per attempt): the next attempt finds the checkpoint the last one wrote. */
export function jobDir(root: string, jobId: string): string {
  return path.join(root, jobId.replace(/[^A-Za-z0-9_.-]/g, '_'));
}

/** Creates the job's directory (world-writable: the container may run as any user) and clears the last attempt's handshake. */
export async function prepareJobDir(dir: string): Promise<void> {
  await mkdir(path.join(dir, JobFiles.checkpoint), { recursive: true });
  await chmod(dir, 0o777);
  await chmod(path.join(dir, JobFiles.checkpoint), 0o777);
  await rm(path.join(dir, JobFiles.notice), { force: true });
  await rm(path.join(dir, JobFiles.ack), { force: true });
}

/** The notice a preempted container reads: who needs its resources and until when it may checkpoint. */
export async function writeNotice(dir: string, notice: { by: string; graceSeconds: number; deadline: string }): Promise<void> {
  await writeFile(path.join(dir, JobFiles.notice), `${JSON.stringify(notice)}\n`, { mode: 0o644 });
}

/** The acknowledgement, written by the job itself or for it (POST /jobs/{id}/checkpoint-ack). */
export async function writeAck(dir: string): Promise<void> {
  await writeFile(path.join(dir, JobFiles.ack), 'ack\n', { mode: 0o666 });
}

export function acknowledged(dir: string): boolean {
  return existsSync(path.join(dir, JobFiles.ack));
}

/** The abort reason that turns a stop into the checkpoint handshake. */
export class PreemptionRequest {
  constructor(
    readonly by: string,
    readonly graceSeconds: number,
    readonly signal: string,
    /** `interrupt`: the worker itself is being reclaimed (a spot interruption), not a job's preemption. */
    readonly kind: 'preempt' | 'interrupt' = 'preempt',
  ) {}

  /** How the attempt ends once the handshake is over. */
  end(acknowledged: boolean, exitCode: number | null):
    { kind: 'preempted'; by: string; acknowledged: boolean; exitCode: number | null } | { kind: 'interrupted'; acknowledged: boolean; exitCode: number | null } {
    return this.kind === 'interrupt' ? { kind: 'interrupted', acknowledged, exitCode } : { kind: 'preempted', by: this.by, acknowledged, exitCode };
  }
}
