export * from './types.js';
export * from './order.js';
export * from './gpu-choice.js';
export * from './schedule.js';
export { formatTime, describeRequest } from './reasons.js';
export * from './pool-preference.js';
export { MIN_GANG_NODES, MAX_GANG_NODES, GANG_PORT_RANGE, gangPort, gangEnvironment } from './gang.js';
export * from './preemption.js';
export * from './waiting-reasons.js';
