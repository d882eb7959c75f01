export * from './env-reader.js';
export * from './app-config.js';
