import { useEffect, useState } from 'react';

/**
 * Hash routes (#/jobs?status=RUNNING, #/jobs/<id>): the API serves one
 * index.html and every view is addressable, bookmarkable and works with
 * the browser's back button.
 */
export interface Route { path: string[]; query: URLSearchParams }

export function parseHash(hash: string): Route {
  const [p = '', q = ''] = hash.replace(/^#/, '').split('?');
  return { path: p.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(q) };
}

export function href(path: string, query?: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v) q.set(k, v);
  const s = q.toString();
  return `#${path}${s ? `?${s}` : ''}`;
}

export function navigate(path: string, query?: Record<string, string | undefined>): void {
  location.hash = href(path, query);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}
