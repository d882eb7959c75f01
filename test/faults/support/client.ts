import { TEST_ADMIN_KEY } from '../../support/test-env.js';

/**
 * The suite's only HTTP client for the API. It sends the admin key the
 * suite's API starts with (or FAULTS_API_TOKEN, for an API of your own).
 */
export interface ApiReply { status: number; body: any }

export function headers(json: boolean): Record<string, string> {
  const h: Record<string, string> = {};
  if (json) h['content-type'] = 'application/json';
  h.authorization = `Bearer ${process.env.FAULTS_API_TOKEN || TEST_ADMIN_KEY}`;
  return h;
}

export function apiClient(base: string, timeoutMs = 10_000) {
  return async (method: string, path: string, body?: unknown): Promise<ApiReply> => {
    const res = await fetch(base + path, {
      method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try { parsed = text ? JSON.parse(text) : undefined; } catch { /* not JSON */ }
    return { status: res.status, body: parsed };
  };
}
export type Api = ReturnType<typeof apiClient>;
