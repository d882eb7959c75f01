export * from './types.js';
export * from './metrics.js';
export * from './simulate.js';
export * from './traces.js';
