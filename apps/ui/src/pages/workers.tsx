import { api } from '../api';
import { ActionButton, ErrorNote, Loading, StatusBadge } from '../components/common';
import { age } from '../format';
import { usePolling } from '../hooks';
import { href } from '../router';
import { canDo, type Credential } from '../session';
import type { Worker } from '../types';

export function WorkersPage({ credential }: { credential: Credential | null }) {
  const workers = usePolling((signal) => api<{ workers: Worker[] }>('/api/v1/workers', { signal }), 3000, []);
  if (workers.loading && !workers.data) return <Loading what="workers" />;
  const list = (workers.data?.workers ?? []).filter((w) => w.state !== 'LEFT');
  const left = (workers.data?.workers ?? []).length - list.length;
  return (
    <>
      <h1>Workers</h1>
      <ErrorNote error={workers.error} />
      <p className="muted">Each square is a GPU: free, or held by the job named in it. Refreshes every 3 s.{left ? ` ${left} worker(s) that left the pool are not shown.` : ''}</p>
      {list.length === 0 && <p>No worker has joined.</p>}
      <ul className="workers" data-testid="workers">
        {list.map((w) => (
          <li key={w.workerId} className="worker panel" data-worker-id={w.workerId}>
            <div className="panel-head">
              <h2>{w.workerId}</h2>
              <StatusBadge status={w.state} />
              {canDo(credential, 'operate') && w.state === 'ACTIVE' && (
                <ActionButton label="Drain" confirm={`Drain ${w.workerId}? It takes no new jobs; running ones finish.`}
                  onConfirm={async () => { await api(`/api/v1/workers/${encodeURIComponent(w.workerId)}/drain`, { method: 'POST' }); workers.reload(); }} />
              )}
            </div>
            <p className="muted">
              pool {w.pool} · {w.hostname} · heartbeat <span data-testid="heartbeat-age">{age(w.lastHeartbeatAt)}</span> ago ·
              {' '}{w.allocated.vcpus}/{w.capacity.vcpus} vCPU · {w.allocated.memoryMiB}/{w.capacity.memoryMiB} MiB · {w.runningJobs} job(s)
            </p>
            {w.gpus.length === 0 ? <p className="muted">No GPUs.</p> : (
              <ul className="gpu-grid" aria-label={`GPUs of ${w.workerId}`}>
                {w.gpus.map((g) => (
                  <li key={g.index} className={`gpu ${g.jobId ? 'held' : 'free'}`} data-gpu-index={g.index}>
                    <span className="gpu-index">GPU {g.index}</span>
                    <span className="gpu-model">{g.model} · {Math.round(g.memoryMiB / 1024)} GiB</span>
                    {g.jobId
                      ? <a className="gpu-job" href={href(`/jobs/${encodeURIComponent(g.jobId)}`)}>{g.jobId}<span className="muted"> ({g.queue})</span></a>
                      : <span className="gpu-job muted">free</span>}
                  </li>
                ))}
              </ul>
            )}
          </li>
        ))}
      </ul>
    </>
  );
}
