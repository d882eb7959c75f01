export * from './names.js';
export * from './payloads.js';
export * from './connection.js';
export * from './worker-queues.js';
export * from './queue-consumer.js';
export * from './worker-acl.js';
export * from './report-signing.js';
