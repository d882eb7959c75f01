import { useState } from 'react';
import { api, apiText } from '../api';
import { SeriesChart } from '../components/chart';
import { ErrorNote, Loading, Section } from '../components/common';
import { usePolling } from '../hooks';
import type { UsageReport, UsageRow } from '../types';

const DAY_MS = 86_400_000;
/** The idle GPU-hours bar: a colour no project gets from the palette; its legend and the table say what it is. */
export const IDLE_COLOR = '#b45309';
const isoDay = (d: Date) => d.toISOString().slice(0, 10);

/** Pivots rows of (project, day) into one series per project over every day of the period. */
export function pivot(rows: UsageRow[], days: string[], figure: (r: UsageRow) => number): { label: string; values: number[] }[] {
  const projects = [...new Set(rows.map((r) => String(r.project)))].sort();
  return projects.map((p) => ({
    label: p,
    values: days.map((d) => rows.filter((r) => r.project === p && r.day === d).reduce((sum, r) => sum + figure(r), 0)),
  }));
}

export function UsagePage() {
  const now = new Date();
  const [from, setFrom] = useState(isoDay(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1))));
  const [to, setTo] = useState(isoDay(new Date(now.getTime() + DAY_MS)));
  const [currency, setCurrency] = useState<string | null>(null);
  const [csvError, setCsvError] = useState<Error | null>(null);
  const query = `from=${from}&to=${to}&groupBy=project,day`;
  const report = usePolling((signal) => api<UsageReport>(`/api/v1/usage?${query}`, { signal }), 30_000, [query]);

  const downloadCsv = async () => {
    setCsvError(null);
    try {
      const csv = await apiText(`/api/v1/usage?${query}`, 'text/csv');
      const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = `gpubatch-usage-${from}-${to}.csv`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      setCsvError(e as Error);
    }
  };

  const data = report.data;
  const days: string[] = [];
  if (data) for (let t = Date.parse(from); t < Date.parse(to) && days.length < 400; t += DAY_MS) days.push(isoDay(new Date(t)));
  const currencies = [...new Set((data?.rows ?? []).map((r) => r.currency))].sort();
  const shownCurrency = currency && currencies.includes(currency) ? currency : (currencies[0] ?? 'USD');
  const rows = (data?.rows ?? []).filter((r) => r.currency === shownCurrency);

  return (
    <>
      <h1>Usage</h1>
      <form className="filters" aria-label="Usage period" onSubmit={(e) => e.preventDefault()}>
        <label>From <input type="date" value={from} onChange={(e) => e.target.value && setFrom(e.target.value)} /></label>
        <label>To (exclusive) <input type="date" value={to} onChange={(e) => e.target.value && setTo(e.target.value)} /></label>
        {currencies.length > 1 && (
          <label>Currency
            <select value={shownCurrency} onChange={(e) => setCurrency(e.target.value)}>{currencies.map((c) => <option key={c}>{c}</option>)}</select>
          </label>
        )}
        <button type="button" onClick={() => void downloadCsv()}>Download CSV</button>
      </form>
      <ErrorNote error={report.error ?? csvError} />
      {report.loading && !data ? <Loading what="usage" /> : data && (
        <>
          <div className="two-col">
            <Section title={`Cost by project and day (${shownCurrency})`}>
              <SeriesChart type="bar" stacked title={`Cost in ${shownCurrency} per day, stacked by project`} labels={days.map((d) => d.slice(5))}
                series={pivot(rows, days, (r) => Number(r.cost))} yTitle={shownCurrency} testId="usage-cost-chart" />
            </Section>
            <Section title="GPU-hours by project and day">
              <SeriesChart type="bar" stacked title="GPU-hours per day, stacked by project, and beside them the idle GPU-hours of all projects" labels={days.map((d) => d.slice(5))}
                series={[
                  ...pivot(data.rows, days, (r) => r.gpuHours),
                  { label: 'Idle GPU-hours (all projects)', stack: 'idle', color: IDLE_COLOR, values: pivot(data.rows, days, (r) => r.idleGpuHours).reduce((sum, s) => sum.map((v, i) => v + s.values[i]), days.map(() => 0)) },
                ]}
                yTitle="GPU-hours" testId="usage-gpu-chart" />
            </Section>
          </div>
          <Section title="Totals">
            <table className="grid-table" data-testid="usage-table">
              <thead><tr><th scope="col">Project</th><th scope="col">Day</th><th scope="col">Currency</th><th scope="col" className="num">Attempts</th><th scope="col" className="num">GPU-hours</th><th scope="col" className="num"><abbr title="GPU-hours held under 5% busy">Idle GPU-hours</abbr></th><th scope="col" className="num">vCPU-hours</th><th scope="col" className="num">Cost</th></tr></thead>
              <tbody>
                {data.rows.length === 0 && <tr><td colSpan={8} className="muted">Nothing ran in this period.</td></tr>}
                {data.rows.map((r, i) => (
                  <tr key={i}>
                    <td>{String(r.project)}</td><td>{String(r.day)}</td><td>{r.currency}</td><td className="num">{r.attempts}</td>
                    <td className="num">{r.gpuHours.toFixed(4)}</td><td className="num" data-testid="idle-gpu-hours">{r.idleGpuHours.toFixed(4)}</td><td className="num">{r.vcpuHours.toFixed(4)}</td><td className="num">{r.cost}{r.includesRunning ? ' (running)' : ''}</td>
                  </tr>
                ))}
              </tbody>
              <tfoot>
                {data.totals.map((t) => (
                  <tr key={t.currency}><th scope="row" colSpan={3}>Total {t.currency}</th><td className="num">{t.attempts}</td><td className="num">{t.gpuHours.toFixed(4)}</td><td className="num">{t.idleGpuHours.toFixed(4)}</td><td className="num">{t.vcpuHours.toFixed(4)}</td><td className="num">{t.cost}</td></tr>
                ))}
              </tfoot>
            </table>
          </Section>
        </>
      )}
    </>
  );
}
