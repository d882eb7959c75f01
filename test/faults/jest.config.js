// The fault-injection suite: its own jest config so `npm test` (and scripts/test.sh) never runs it by accident.
// Run with `npm run test:faults`; FAULTS_COUNT, FAULTS_SEED, FAULTS_INFLIGHT, FAULTS_SCENARIOS tune it (docs/reliability.md).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import base from '../../jest.config.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const e2e = base.projects.find((p) => p.displayName === 'e2e');

/** @type {import('jest').Config} */
export default {
  rootDir: root,
  forceExit: true,
  projects: [{ ...e2e, rootDir: root, displayName: 'faults', testMatch: ['<rootDir>/test/faults/**/*.test.ts'] }],
};
