import { useCallback, useEffect, useRef, useState } from 'react';

/**
 * Loads with `load` now and every `everyMs` while the tab is visible (the
 * dashboard's live updates are polling of the REST API). A failed refresh
 * keeps the last data and shows the error.
 */
export function usePolling<T>(load: (signal: AbortSignal) => Promise<T>, everyMs: number, deps: unknown[]): {
  data: T | null; error: Error | null; loading: boolean; reload: () => void;
} {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const reload = useCallback(() => setTick((t) => t + 1), []);

  useEffect(() => {
    setData(null);
    setLoading(true);
  }, deps);

  useEffect(() => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const value = await loadRef.current(abort.signal);
        if (abort.signal.aborted) return;
        setData(value);
        setError(null);
      } catch (e) {
        if (abort.signal.aborted) return;
        setError(e as Error);
      } finally {
        if (!abort.signal.aborted) {
          setLoading(false);
          if (everyMs > 0) timer = setTimeout(run, document.hidden ? everyMs * 5 : everyMs);
        }
      }
    };
    void run();
    return () => {
      abort.abort();
      if (timer) clearTimeout(timer);
    };
  }, [...deps, tick, everyMs]);

  return { data, error, loading, reload };
}
