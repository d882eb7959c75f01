import { api } from '../api';
import { SeriesChart } from '../components/chart';
import { ErrorNote, Loading, Section } from '../components/common';
import { STATUSES } from '../format';
import { usePolling } from '../hooks';
import { href } from '../router';
import type { Overview } from '../types';

export function OverviewPage() {
  const { data, error, loading } = usePolling((signal) => api<Overview>('/api/v1/overview', { signal }), 5000, []);
  if (loading && !data) return <Loading what="the overview" />;
  if (!data) return <ErrorNote error={error} />;
  const labels = data.perMinute.map((m) => m.minute.slice(11, 16));
  return (
    <>
      <h1>Overview</h1>
      <ErrorNote error={error} />
      <Section title="Jobs per queue">
        <table className="grid-table" data-testid="queue-counts">
          <caption className="muted">Waiting and running jobs now; finished ones from the last {data.finishedWindowHours} h. Select a count to list those jobs.</caption>
          <thead>
            <tr><th scope="col">Queue</th>{STATUSES.map((s) => <th scope="col" key={s} className="num">{s}</th>)}</tr>
          </thead>
          <tbody>
            {data.queues.length === 0 && <tr><td colSpan={STATUSES.length + 1} className="muted">No queues yet.</td></tr>}
            {data.queues.map((q) => (
              <tr key={q.queue}>
                <th scope="row"><a href={href('/jobs', { queue: q.queue })}>{q.queue}</a></th>
                {STATUSES.map((s) => (
                  <td key={s} className="num">
                    {q.counts[s] ? <a href={href('/jobs', { queue: q.queue, status: s })} aria-label={`${q.counts[s]} ${s} in ${q.queue}`}>{q.counts[s]}</a> : <span className="muted">0</span>}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <div className="two-col">
        <Section title="GPUs allocated">
          <table className="grid-table" data-testid="gpu-inventory">
            <thead><tr><th scope="col">Pool</th><th scope="col">Model</th><th scope="col" className="num">Allocated / total</th><th scope="col">Use</th></tr></thead>
            <tbody>
              {data.gpus.length === 0 && <tr><td colSpan={4} className="muted">No GPU workers are in the pool.</td></tr>}
              {data.gpus.map((g) => (
                <tr key={`${g.pool}/${g.model}`}>
                  <td>{g.pool}</td><td>{g.model}</td>
                  <td className="num">{g.allocated} / {g.total}</td>
                  <td><meter min={0} max={g.total} value={g.allocated} aria-label={`${g.pool} ${g.model}: ${g.allocated} of ${g.total} allocated`} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </Section>
        <Section title="Submits and starts per minute">
          <SeriesChart type="line" title={`Jobs submitted and attempts started, last ${data.rateWindowMinutes} minutes (UTC)`} labels={labels}
            series={[{ label: 'submits', values: data.perMinute.map((m) => m.submits) }, { label: 'starts', values: data.perMinute.map((m) => m.starts) }]}
            testId="rate-chart" />
          <p className="muted">
            Last minute: {data.perMinute.at(-1)?.submits ?? 0} submits, {data.perMinute.at(-1)?.starts ?? 0} starts.
            Last {data.rateWindowMinutes} minutes: {data.perMinute.reduce((a, m) => a + m.submits, 0)} submits, {data.perMinute.reduce((a, m) => a + m.starts, 0)} starts.
          </p>
        </Section>
      </div>
    </>
  );
}
