import { stringify } from 'yaml';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** A column of a table: its header and how to read a cell from a row. */
export interface Column<T> {
  header: string;
  cell: (row: T) => string;
  /** Longer cells are cut with an ellipsis (the last column is never cut). */
  max?: number;
}

/**
 * A plain-text table as squeue prints it: a header line, cells left-aligned,
 * columns two spaces apart, no trailing blanks.
 */
export function renderTable<T>(columns: Column<T>[], rows: T[]): string {
  const cells = rows.map((row) => columns.map((c, i) => cut(oneLine(c.cell(row)), i === columns.length - 1 ? undefined : c.max)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i].length)));
  const line = (values: string[]) => values.map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}

function oneLine(s: string): string {
  return s.replace(/[\r\n\t]+/g, ' ');
}

function cut(s: string, max: number | undefined): string {
  return max !== undefined && s.length > max ? `${s.slice(0, Math.max(1, max - 1))}…` : s;
}

/** `data` as JSON or YAML, or the table text when the format is table. */
export function render(format: OutputFormat, data: unknown, table: () => string): string {
  if (format === 'json') return JSON.stringify(data, null, 2) + '\n';
  if (format === 'yaml') return stringify(data);
  return table();
}

/** "42s", "5m", "3h", "2d": how long ago `iso` was, squeue style. */
export function formatAge(iso: string | null | undefined, now: Date): string {
  if (!iso) return '-';
  return formatSeconds(Math.max(0, (now.getTime() - new Date(iso).getTime()) / 1000));
}

/** Seconds as the largest whole unit: "42s", "5m", "3h", "2d". */
export function formatSeconds(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** "1h02m05s": an exact duration, for describe. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m${String(rest).padStart(2, '0')}s`;
  if (m > 0) return `${m}m${String(rest).padStart(2, '0')}s`;
  return `${rest}s`;
}

/** RFC 4180 CSV: a field with a comma, quote or line break is quoted, quotes doubled. */
export function toCsv(header: string[], rows: unknown[][]): string {
  const field = (v: unknown) => {
    const s = v === null || v === undefined ? '' : String(v);
    return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  return [header, ...rows].map((r) => r.map(field).join(',')).join('\r\n') + '\r\n';
}
