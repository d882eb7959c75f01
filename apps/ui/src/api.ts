import { clearCredential, loadCredential } from './session';

/** An error reply of the API: its HTTP status, stable code and message. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

type Listener = () => void;
const signedOutListeners = new Set<Listener>();

/** Called when the API refuses the credential (401): the app goes back to sign-in. */
export function onSignedOut(fn: Listener): () => void {
  signedOutListeners.add(fn);
  return () => signedOutListeners.delete(fn);
}

function headers(token: string | undefined, extra: Record<string, string> = {}): Record<string, string> {
  return { ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra };
}

async function failure(res: Response): Promise<ApiError> {
  let code = `HTTP_${res.status}`;
  let message = res.statusText;
  try {
    const body = await res.json();
    code = body.code ?? code;
    message = body.message ?? message;
  } catch { /* not JSON: keep the status line */ }
  return new ApiError(res.status, code, Array.isArray(message) ? message.join('; ') : String(message));
}

/** A JSON call to the REST API with the signed-in credential (or `token`). */
export async function api<T>(path: string, init: { method?: string; body?: unknown; token?: string; signal?: AbortSignal } = {}): Promise<T> {
  const token = init.token ?? loadCredential()?.token;
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    headers: headers(token, init.body !== undefined ? { 'content-type': 'application/json' } : {}),
    body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
    signal: init.signal,
  });
  if (!res.ok) {
    const error = await failure(res);
    if (res.status === 401 && init.token === undefined) {
      clearCredential();
      for (const fn of signedOutListeners) fn();
    }
    throw error;
  }
  return (res.status === 204 ? undefined : await res.json()) as T;
}

/** The body of a call as text (CSV downloads). */
export async function apiText(path: string, accept: string): Promise<string> {
  const res = await fetch(path, { headers: headers(loadCredential()?.token, { accept }) });
  if (!res.ok) throw await failure(res);
  return res.text();
}

export interface SseEvent { event: string; data: string }

/**
 * Splits a text/event-stream into events. EventSource cannot send an
 * Authorization header, so the stream is read with fetch and parsed here.
 * Returns the events complete in `buffer` and what is left over.
 */
export function parseSse(buffer: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  const blocks = buffer.replace(/\r\n/g, '\n').split('\n\n');
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':') || line === '') continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length || event !== 'message') events.push({ event, data: data.join('\n') });
  }
  return { events, rest };
}

/** Follows a server-sent event stream of the API until it ends or `signal` aborts. */
export async function followSse(path: string, signal: AbortSignal, onEvent: (e: SseEvent) => void): Promise<void> {
  const res = await fetch(path, { headers: headers(loadCredential()?.token, { accept: 'text/event-stream' }), signal });
  if (!res.ok || !res.body) throw await failure(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const parsed = parseSse(buffer + value);
      buffer = parsed.rest;
      for (const e of parsed.events) onEvent(e);
    }
  } finally {
    reader.releaseLock();
  }
}
