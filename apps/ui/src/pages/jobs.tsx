import { useEffect, useState } from 'react';
import { api } from '../api';
import { ErrorNote, IdleGpuFlag, Loading, StatusBadge } from '../components/common';
import { age, STATUSES } from '../format';
import { usePolling } from '../hooks';
import { href, navigate, type Route } from '../router';
import type { JobList, Queue } from '../types';

const PAGE_SIZES = ['25', '50', '100'];

export function JobsPage({ route }: { route: Route }) {
  const queue = route.query.get('queue') ?? '';
  const status = route.query.get('status') ?? '';
  const limit = route.query.get('limit') ?? '25';
  const arrayJobId = route.query.get('arrayJobId') ?? '';
  // Cursors of the pages before this one, so Previous works (the API pages forward only).
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  useEffect(() => setCursors([]), [queue, status, limit, arrayJobId]);

  const queues = usePolling((signal) => api<{ jobQueues: Queue[] }>('/api/v1/job-queues', { signal }), 0, []);
  const jobs = usePolling((signal) => {
    const q = new URLSearchParams({ limit });
    if (queue) q.set('queue', queue);
    if (status) q.set('status', status);
    if (arrayJobId) q.set('arrayJobId', arrayJobId);
    if (cursor) q.set('cursor', cursor);
    return api<JobList>(`/api/v1/jobs?${q}`, { signal });
  }, 3000, [queue, status, limit, arrayJobId, cursor]);

  const setFilter = (patch: Record<string, string>) => navigate('/jobs', { queue, status, limit, arrayJobId, ...patch });
  return (
    <>
      <h1>Jobs{arrayJobId ? ` of array ${arrayJobId}` : ''}</h1>
      <form className="filters" aria-label="Filter jobs" onSubmit={(e) => e.preventDefault()}>
        <label>Queue
          <select value={queue} onChange={(e) => setFilter({ queue: e.target.value })}>
            <option value="">all queues</option>
            {(queues.data?.jobQueues ?? []).map((q) => <option key={q.name} value={q.name}>{q.name}</option>)}
          </select>
        </label>
        <label>Status
          <select value={status} onChange={(e) => setFilter({ status: e.target.value })}>
            <option value="">any status</option>
            {STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
        <label>Per page
          <select value={limit} onChange={(e) => setFilter({ limit: e.target.value })}>
            {PAGE_SIZES.map((n) => <option key={n} value={n}>{n}</option>)}
          </select>
        </label>
        {arrayJobId && <button type="button" onClick={() => setFilter({ arrayJobId: '' })}>Show all jobs</button>}
        <span className="muted live" aria-live="off">Refreshes every 3 s</span>
      </form>
      <ErrorNote error={jobs.error} />
      {jobs.loading && !jobs.data ? <Loading what="jobs" /> : (
        <table className="grid-table jobs-table" data-testid="jobs-table">
          <thead>
            <tr>
              <th scope="col">Name</th><th scope="col">ID</th><th scope="col">Queue</th><th scope="col">Status</th>
              <th scope="col">Reason</th><th scope="col" className="num">Priority</th><th scope="col">Age</th>
            </tr>
          </thead>
          <tbody>
            {jobs.data?.jobs.length === 0 && <tr><td colSpan={7} className="muted">No jobs match.</td></tr>}
            {jobs.data?.jobs.map((j) => (
              <tr key={j.jobId} data-job-id={j.jobId}>
                <td><a href={href(`/jobs/${encodeURIComponent(j.jobId)}`)}>{j.name}</a>{j.gpuIdle && <> <IdleGpuFlag /></>}</td>
                <td><code className="id">{j.jobId}</code></td>
                <td>{j.queue}</td>
                <td><StatusBadge status={j.status} /></td>
                <td className="reason">{j.statusReason ?? ''}</td>
                <td className="num">{j.priority}</td>
                <td title={j.createdAt}>{age(j.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav className="pager" aria-label="Pages">
        <button type="button" disabled={cursors.length === 0} onClick={() => setCursors((c) => c.slice(0, -1))}>Previous page</button>
        <span className="muted">Page {cursors.length + 1}</span>
        <button type="button" disabled={!jobs.data?.nextCursor} onClick={() => jobs.data?.nextCursor && setCursors((c) => [...c, jobs.data!.nextCursor!])}>Next page</button>
      </nav>
    </>
  );
}
