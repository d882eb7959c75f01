import { randomUUID } from 'node:crypto';
import type { DispatchPayload } from '#libs/queue';
import { testEnv } from './test-env.js';

/** A first attempt of a fresh job on the local test image: 0.5 vCPU, 64 MiB, no GPU, no timeout. */
export function dispatchPayload(over: Partial<DispatchPayload> = {}): DispatchPayload {
  return {
    jobId: randomUUID(),
    jobName: 'test-job',
    queue: 'test-queue',
    attempt: 1,
    image: testEnv().testImage,
    command: ['sh', '-c', 'exit 0'],
    environment: {},
    resources: { vcpus: 0.5, memoryMiB: 64, gpus: 0 },
    gpuDevices: [],
    timeoutSeconds: null,
    ...over,
  };
}
