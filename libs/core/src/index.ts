export * from './job-state.js';
export * from './resources.js';
export * from './placement.js';
export * from './billing.js';
export * from './failure.js';
export * from './parameters.js';
