export * from './clock.js';
export * from './cadence.js';
export * from './heartbeat-sightings.js';
export * from './liveness.js';
export * from './stranded-attempts.js';
export * from './orphaned-attempts.js';
export * from './attempt-timeouts.js';
