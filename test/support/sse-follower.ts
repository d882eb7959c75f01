import { TEST_ADMIN_KEY } from './test-env.js';

/** Server-sent events read over real HTTP, for the log-follow tests. */
export interface SseEvent {
  event: string;
  data: any;
  receivedAt: number;
}

/** A follower over real HTTP (as `key`, the test admin key by default): the events as they arrive, and whether the server ended the stream. */
export function follow(url: string, key: string = TEST_ADMIN_KEY) {
  const abort = new AbortController();
  const events: SseEvent[] = [];
  let closed = false;
  const response = fetch(url, { signal: abort.signal, headers: { accept: 'text/event-stream', authorization: `Bearer ${key}` } });
  const done = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      const res = await response;
      if (res.status !== 200) return;
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event) events.push({ event, data: data === undefined ? undefined : JSON.parse(data), receivedAt: Date.now() });
        }
      }
    } catch {
      // aborted by the test
    } finally {
      closed = true;
    }
  })();
  return {
    response, events, done, abort: () => abort.abort(),
    get closed() { return closed; },
    lines: () => events.filter((e) => e.event === 'line').map((e) => e.data.text),
  };
}
