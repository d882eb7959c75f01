import { ApiRequestError, CliError, EXIT } from './cli-errors.js';
import type { CliConfig } from './cli-config.js';
import { SseParser, type SseEvent } from './sse-parser.js';

/** A thin client of the gpubatch REST API: JSON in and out, every failure a CliError with a clear message. */
export class ApiClient {
  constructor(private readonly config: CliConfig) {}

  get<T = any>(path: string, query?: Record<string, string | number | undefined>): Promise<T> {
    return this.request<T>('GET', withQuery(path, query));
  }

  post<T = any>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  /** The response body as text, e.g. CSV with `accept: text/csv`. */
  async text(path: string, query: Record<string, string | number | undefined>, accept: string): Promise<string> {
    const res = await this.send('GET', withQuery(path, query), undefined, accept);
    return res.text();
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.send(method, path, body, 'application/json');
    return (res.status === 204 ? undefined : await res.json()) as T;
  }

  /**
   * Server-sent events from `path`, each handed to `onEvent` as it arrives;
   * resolves when the server closes the stream or `onEvent` returns 'stop'.
   */
  async stream(path: string, onEvent: (event: SseEvent) => 'stop' | void): Promise<void> {
    const res = await this.send('GET', path, undefined, 'text/event-stream');
    const parser = new SseParser();
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        for (const event of parser.push(decoder.decode(value, { stream: true }))) {
          if (onEvent(event) === 'stop') return;
        }
      }
    } catch (error) {
      throw new CliError(`the log stream from ${this.config.endpoint} broke off: ${(error as Error).message}`, EXIT.UNREACHABLE);
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  }

  private async send(method: string, path: string, body: unknown, accept: string): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(this.config.endpoint + path, {
        method,
        headers: {
          authorization: `Bearer ${this.config.apiKey}`,
          accept,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (error) {
      throw new CliError(`cannot reach the gpubatch API at ${this.config.endpoint}: ${networkCause(error)}`, EXIT.UNREACHABLE);
    }
    if (res.ok) return res;
    throw await errorOf(res, this.config.endpoint);
  }
}

function withQuery(path: string, query: Record<string, string | number | undefined> | undefined): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== '') params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/** The API's error body `{ statusCode, code, message, errors? }` as one readable message. */
async function errorOf(res: Response, endpoint: string): Promise<ApiRequestError> {
  const text = await res.text().catch(() => '');
  let body: { code?: string; message?: string; errors?: string[] } = {};
  try {
    body = JSON.parse(text);
  } catch {
    // not the API's JSON: a proxy's page, say
  }
  const code = body.code ?? `HTTP_${res.status}`;
  if (res.status === 401) {
    return new ApiRequestError(401, code, `the API at ${endpoint} refused the API key (401 UNAUTHENTICATED): it is wrong, expired or revoked; run \`gpubatch login\` or fix GPUBATCH_API_KEY`);
  }
  const detail = body.errors?.length ? body.errors.join('; ') : body.message ?? (text.slice(0, 200) || res.statusText);
  return new ApiRequestError(res.status, code, `${detail} (${res.status} ${code})`);
}

/** fetch's "fetch failed" hides the reason in its cause: ECONNREFUSED, ENOTFOUND, a timeout. */
function networkCause(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code === 'ECONNREFUSED') return 'connection refused (is the API running there?)';
  if (cause?.code === 'ENOTFOUND' || cause?.code === 'EAI_AGAIN') return 'host not found';
  return cause?.code ?? cause?.message ?? (error as Error).message;
}
