import { createHmac, timingSafeEqual } from 'node:crypto';
import type { WorkerEvent } from './payloads.js';

/**
 * Attempt reports are signed by their worker with the key it received when
 * it joined: HMAC-SHA256 over the canonical JSON of the report without its
 * `signature` (object keys sorted, no whitespace), hex. The scheduler checks
 * the signature with the key of the worker the attempt was placed on.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

function unsigned(event: WorkerEvent): Record<string, unknown> {
  const { signature: _signature, ...rest } = event as WorkerEvent & { signature?: string };
  return rest;
}

export function reportSignature(event: WorkerEvent, key: string): string {
  return createHmac('sha256', key).update(canonicalJson(unsigned(event))).digest('hex');
}

/** The report with its signature (a previous one replaced). */
export function signReport<T extends WorkerEvent>(event: T, key: string): T {
  return { ...event, signature: reportSignature(event, key) };
}

/** True when the report carries a signature made with this key over exactly its content. */
export function verifyReport(event: WorkerEvent, key: string): boolean {
  const given = (event as { signature?: unknown }).signature;
  if (typeof given !== 'string' || !/^[0-9a-f]{64}$/.test(given)) return false;
  return timingSafeEqual(Buffer.from(given, 'hex'), Buffer.from(reportSignature(event, key), 'hex'));
}
