import { api } from '../api';
import { ActionButton, ErrorNote, Loading, StatusBadge } from '../components/common';
import { time } from '../format';
import { usePolling } from '../hooks';
import { canDo, type Credential } from '../session';
import type { Schedule } from '../types';

export function SchedulesPage({ credential }: { credential: Credential | null }) {
  const schedules = usePolling((signal) => api<{ schedules: Schedule[] }>('/api/v1/schedules', { signal }), 10_000, []);
  if (schedules.loading && !schedules.data) return <Loading what="schedules" />;
  const act = async (name: string, action: 'pause' | 'resume') => {
    await api(`/api/v1/schedules/${encodeURIComponent(name)}/${action}`, { method: 'POST' });
    schedules.reload();
  };
  const list = schedules.data?.schedules ?? [];
  return (
    <>
      <h1>Schedules</h1>
      <ErrorNote error={schedules.error} />
      <p className="muted">Each tick submits the schedule's job (tagged gpubatch:schedule=&lt;name&gt;). Create them with POST /api/v1/schedules.</p>
      <table className="grid-table" data-testid="schedules">
        <thead><tr><th scope="col">Name</th><th scope="col">Cron</th><th scope="col">Timezone</th><th scope="col">State</th><th scope="col">Submits</th><th scope="col">Next run</th><th scope="col">Last fired</th><th scope="col" className="num">Firings</th><th scope="col">Actions</th></tr></thead>
        <tbody>
          {list.length === 0 && <tr><td colSpan={9} className="muted">No schedules.</td></tr>}
          {list.map((s) => (
            <tr key={s.name}>
              <td>{s.name}</td><td><code>{s.cron}</code></td><td>{s.timezone}</td><td><StatusBadge status={s.state} /></td>
              <td>{String(s.submit.definition ?? '')} → {String(s.submit.queue ?? '')}{s.submit.project ? ` (${String(s.submit.project)})` : ''}</td>
              <td>{time(s.nextRunAt)}</td><td>{time(s.lastFiredAt)}</td><td className="num">{s.fireCount}</td>
              <td>
                {canDo(credential, 'submit') && (s.state === 'ACTIVE'
                  ? <ActionButton label="Pause" confirm={`Pause ${s.name}?`} onConfirm={() => act(s.name, 'pause')} />
                  : <ActionButton label="Resume" confirm={`Resume ${s.name}?`} onConfirm={() => act(s.name, 'resume')} />)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
