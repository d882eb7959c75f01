/** "4 s", "3 min", "2 h", "5 d": how long ago (or how long), for people. */
export function age(fromIso: string | null | undefined, now = Date.now()): string {
  if (!fromIso) return '—';
  return duration(now - new Date(fromIso).getTime());
}

export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d`;
}

export function time(iso: string | null | undefined): string {
  if (!iso) return '—';
  return new Date(iso).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function money(amounts: Record<string, string> | null | undefined): string {
  const entries = Object.entries(amounts ?? {});
  if (entries.length === 0) return '0';
  return entries.map(([currency, amount]) => `${Number(amount).toFixed(4)} ${currency}`).join(', ');
}

export const TERMINAL = new Set(['SUCCEEDED', 'FAILED']);
export const STATUSES = ['SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING', 'RUNNING', 'SUCCEEDED', 'FAILED'] as const;
