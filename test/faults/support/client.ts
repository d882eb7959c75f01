/**
 * The suite's only HTTP client for the API. Credentials, once the API asks
 * for them, go in `headers()`: one line.
 */
export interface ApiReply { status: number; body: any }

export function headers(json: boolean): Record<string, string> {
  const h: Record<string, string> = {};
  if (json) h['content-type'] = 'application/json';
  if (process.env.FAULTS_API_TOKEN) h.authorization = `Bearer ${process.env.FAULTS_API_TOKEN}`;
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
