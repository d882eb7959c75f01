import type { Redis } from 'ioredis';
import { QueueNames, RedisKeys } from './names.js';

/**
 * Redis ACL users of workers (docs/worker-security.md). A worker's user may
 * touch only its own dispatch and control queues, its own heartbeat key, the
 * shared events queue (where every attempt report is signed and checked
 * against the attempt's worker) and the live-log streams; it may read the
 * drain-request set. Everything else, and every dangerous or administrative
 * command, is refused with NOPERM.
 */

/** BullMQ's default key prefix: a queue named `q` lives in `bull:q:*`. */
export const BULL_PREFIX = 'bull';

/** Worker ids are identifiers (letters, digits, '-', '_'): no glob character can widen a pattern. */
const WORKER_ID = /^[A-Za-z0-9_-]{1,128}$/;

export function workerAclUsername(workerId: string): string {
  assertWorkerId(workerId);
  return `gpubatch-worker-${workerId}`;
}

/** The key patterns of one worker's user: what `ACL SETUSER` receives (`~` read-write, `%R~` read-only). */
export function workerKeyPatterns(workerId: string): string[] {
  assertWorkerId(workerId);
  return [
    `~${BULL_PREFIX}:${QueueNames.dispatch(workerId)}:*`,
    `~${BULL_PREFIX}:${QueueNames.control(workerId)}:*`,
    `~${BULL_PREFIX}:${QueueNames.events}:*`,
    `~${RedisKeys.worker(workerId)}`,
    `~${RedisKeys.liveLogsOf(workerId)}`,
    `%R~${RedisKeys.drainRequests}`,
  ];
}

/**
 * Command rules: the data, scripting and blocking commands BullMQ and the
 * worker use, minus every @dangerous command (FLUSHDB, KEYS, CONFIG, ACL,
 * CLIENT KILL, DEBUG, MONITOR, ...) and the script/function management that
 * could disturb other clients. INFO is allowed back: BullMQ reads the server
 * version with it.
 */
export const WORKER_COMMAND_RULES = [
  '-@all', '+@read', '+@write', '+@keyspace', '+@string', '+@hash', '+@list', '+@set', '+@sortedset', '+@stream',
  '+@scripting', '+@transaction', '+@connection', '+@fast', '+@slow', '+@blocking',
  '-@dangerous', '+info',
  '-script|flush', '-script|kill', '-function|flush', '-function|delete', '-function|restore', '-function|kill', '-function|load',
];

/** Creates or replaces a worker's user: a new password invalidates the old one; existing connections are closed. */
export async function setWorkerAclUser(admin: Redis, workerId: string, password: string): Promise<string> {
  const username = workerAclUsername(workerId);
  await admin.call('ACL', 'SETUSER', username, 'reset', 'on', `>${password}`, 'resetchannels', ...workerKeyPatterns(workerId), ...WORKER_COMMAND_RULES);
  await killUserConnections(admin, username);
  return username;
}

/** Turns a worker's user off (it can no longer authenticate) and closes its connections. */
export async function disableWorkerAclUser(admin: Redis, workerId: string): Promise<void> {
  const username = workerAclUsername(workerId);
  await admin.call('ACL', 'SETUSER', username, 'off', 'resetpass');
  await killUserConnections(admin, username);
}

export async function deleteWorkerAclUser(admin: Redis, workerId: string): Promise<void> {
  await admin.call('ACL', 'DELUSER', workerAclUsername(workerId));
}

async function killUserConnections(admin: Redis, username: string): Promise<void> {
  await admin.call('CLIENT', 'KILL', 'USER', username).catch(() => undefined);
}

function assertWorkerId(workerId: string): void {
  if (!WORKER_ID.test(workerId)) throw new Error(`invalid worker id "${workerId}": 1-128 letters, digits, '-' or '_'`);
}

/** `redis://user:password@host:port/db` from a base URL (its own credentials, if any, are replaced). */
export function redisUrlWithCredentials(baseUrl: string, username: string, password: string): string {
  const url = new URL(baseUrl);
  url.username = encodeURIComponent(username);
  url.password = encodeURIComponent(password);
  return url.toString();
}
