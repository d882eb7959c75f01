export * from './env-reader.js';
export * from './app-config.js';
export * from './secrets.js';
export * from './container-policy.js';
export * from './mounts.js';
