import { useEffect, useRef, useState } from 'react';
import { api, followSse } from '../api';
import { ActionButton, ErrorNote, IdleGpuFlag, Loading, Section, StatusBadge } from '../components/common';
import { money, TERMINAL, time } from '../format';
import { usePolling } from '../hooks';
import { href } from '../router';
import { canDo, type Credential } from '../session';
import type { Attempt, JobDetail, LogLine } from '../types';

const WAITING = new Set(['SUBMITTED', 'PENDING', 'RUNNABLE']);

export function JobPage({ id, credential }: { id: string; credential: Credential | null }) {
  const job = usePolling((signal) => api<JobDetail>(`/api/v1/jobs/${encodeURIComponent(id)}`, { signal }), 2000, [id]);
  const [attempt, setAttempt] = useState<number | null>(null);
  const j = job.data;
  if (job.loading && !j) return <Loading what={`job ${id}`} />;
  if (!j) return <><h1>Job</h1><ErrorNote error={job.error} /></>;
  const latest = j.attempts.at(-1)?.attempt ?? null;
  const shown = attempt ?? latest;
  const stop = async (action: 'cancel' | 'terminate', reason: string) => {
    await api(`/api/v1/jobs/${encodeURIComponent(id)}/${action}`, { method: 'POST', body: { reason } });
    job.reload();
  };
  const isArray = j.arrayProperties !== null && 'size' in j.arrayProperties;

  return (
    <>
      <div className="title-row">
        <h1>Job {j.name}</h1>
        <StatusBadge status={j.status} />
        {j.gpuIdle && <IdleGpuFlag />}
        {canDo(credential, 'submit') && !TERMINAL.has(j.status) && (
          <div className="actions">
            {WAITING.has(j.status) && <ActionButton label="Cancel" confirm={`Cancel ${j.name}?`} withReason onConfirm={(r) => stop('cancel', r)} />}
            <ActionButton label="Terminate" danger confirm={`Terminate ${j.name}${j.status === 'RUNNING' ? ' (stops its container)' : ''}?`} withReason onConfirm={(r) => stop('terminate', r)} />
          </div>
        )}
      </div>
      <ErrorNote error={job.error} />
      {j.gpuIdle && (
        <p className="idle-line" data-testid="gpu-idle">
          <strong>Idle GPUs:</strong> {idleAttempts(j.attempts)} held GPUs it did not use: they averaged under 5% busy. See GPU use under Attempts.
        </p>
      )}
      {j.statusReason && <p className="reason-line"><strong>Reason:</strong> <span data-testid="status-reason">{j.statusReason}</span></p>}
      <div className="two-col">
        <Section title="Details">
          <dl className="facts">
            <dt>ID</dt><dd><code>{j.jobId}</code></dd>
            <dt>Queue</dt><dd><a href={href('/jobs', { queue: j.queue })}>{j.queue}</a></dd>
            <dt>Project</dt><dd>{j.project}</dd>
            <dt>Definition</dt><dd>{j.definition}</dd>
            <dt>Image</dt><dd><code>{j.image}</code></dd>
            <dt>Command</dt><dd><code>{JSON.stringify(j.command)}</code></dd>
            <dt>Resources</dt><dd>{j.resources.vcpus} vCPU, {j.resources.memoryMiB} MiB, {j.resources.gpus} GPU{j.resources.gpuModel ? ` (${j.resources.gpuModel})` : ''}</dd>
            <dt>Timeout</dt><dd>{j.timeoutSeconds ? `${j.timeoutSeconds} s` : 'none'}</dd>
            <dt>Submitted</dt><dd>{time(j.createdAt)}</dd>
            <dt>Started</dt><dd>{time(j.startedAt)}</dd>
            <dt>Stopped</dt><dd>{time(j.stoppedAt)}</dd>
            {j.dependsOn.length > 0 && <><dt>Depends on</dt><dd>{j.dependsOn.map((d) => <a key={d.jobId} href={href(`/jobs/${encodeURIComponent(d.jobId)}`)}>{d.jobId} </a>)}</dd></>}
            {j.arrayProperties && 'parentId' in j.arrayProperties && <><dt>Array</dt><dd>child {j.arrayProperties.index} of <a href={href(`/jobs/${encodeURIComponent(j.arrayProperties.parentId)}`)}>{j.arrayProperties.parentId}</a></dd></>}
          </dl>
        </Section>
        <Section title="Cost">
          <p className="big" data-testid="job-cost">{money(j.cost)}</p>
          <p className="muted">{j.costFinal ? 'Final.' : 'So far: running attempts accrue.'}</p>
          {isArray && (
            <>
              <h3>Children</h3>
              <p>{Object.entries((j.arrayProperties as { statusSummary: Record<string, number> }).statusSummary).map(([s, n]) => `${n} ${s}`).join(', ') || 'none yet'}</p>
              <a href={href('/jobs', { arrayJobId: j.jobId })}>List the children</a>
            </>
          )}
        </Section>
      </div>
      <Section title="Attempts">
        <table className="grid-table" data-testid="attempts">
          <thead><tr><th scope="col">#</th><th scope="col">Status</th><th scope="col">Worker</th><th scope="col">GPUs</th><th scope="col">Started</th><th scope="col">Stopped</th><th scope="col">Exit</th><th scope="col">Reason</th><th scope="col">Cost</th><th scope="col">GPU use</th><th scope="col">Logs</th></tr></thead>
          <tbody>
            {j.attempts.length === 0 && <tr><td colSpan={11} className="muted">Not placed yet.</td></tr>}
            {j.attempts.map((a) => (
              <tr key={a.attempt}>
                <td>{a.attempt}</td><td><StatusBadge status={a.status} /></td>
                <td><a href={href('/workers')}>{a.workerId}</a> <span className="muted">({a.pool})</span></td>
                <td>{a.gpuDevices.length ? a.gpuDevices.join(', ') : '—'}{a.cost?.gpuModel ? ` ${a.cost.gpuModel}` : ''}</td>
                <td>{time(a.startedAt)}</td><td>{time(a.stoppedAt)}</td>
                <td>{a.exitCode ?? '—'}</td><td className="reason">{a.reason ?? ''}</td>
                <td>{a.cost ? `${Number(a.cost.amount).toFixed(4)} ${a.cost.currency} (${a.cost.billedSeconds} s${a.cost.running ? ', running' : ''})` : '—'}</td>
                <td data-testid="gpu-use"><GpuUse attempt={a} /></td>
                <td><button type="button" aria-pressed={shown === a.attempt} onClick={() => setAttempt(a.attempt)}>Show attempt {a.attempt}</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      {!isArray && <Logs jobId={j.jobId} attempt={shown} pinned={attempt !== null} />}
      <Section title="Timeline">
        <ol className="timeline" data-testid="timeline">
          {j.events.map((e, i) => (
            <li key={i}>
              <time dateTime={e.at}>{time(e.at)}</time> <StatusBadge status={e.to} />
              {e.from && <span className="muted"> from {e.from}</span>}
              {e.reason && <span className="reason"> — {e.reason}</span>}
            </li>
          ))}
        </ol>
      </Section>
    </>
  );
}

/** "Attempt 1", "Attempts 1 and 3": the attempts whose GPUs sat idle. */
function idleAttempts(attempts: Attempt[]): string {
  const idle = attempts.filter((a) => a.gpuUtilization?.idle).map((a) => a.attempt);
  return idle.length === 1 ? `Attempt ${idle[0]}` : `Attempts ${idle.slice(0, -1).join(', ')} and ${idle.at(-1)}`;
}

/** What the attempt's GPUs did, from its worker's nvidia-smi samples; known once the attempt ends. */
function GpuUse({ attempt: a }: { attempt: Attempt }) {
  const u = a.gpuUtilization;
  if (!u) return <span className="muted">{a.gpuDevices.length === 0 ? '—' : a.stoppedAt ? 'not sampled' : 'known when it ends'}</span>;
  return (
    <span className="gpu-use">
      {u.avgPercent}% avg, {u.peakPercent}% peak<br />
      <span className="muted">{Math.round(u.avgMemoryMiB)} MiB avg, {Math.round(u.peakMemoryMiB)} MiB peak</span>
      {u.idle && <><br /><IdleGpuFlag testId={`attempt-${a.attempt}-idle`} /></>}
    </span>
  );
}

/**
 * The attempt's output, live: the API's follow stream (server-sent events,
 * read with fetch so the key goes in a header) from the first line, until
 * the attempt ends; then, if a retry starts, the next attempt's.
 */
function Logs({ jobId, attempt, pinned }: { jobId: string; attempt: number | null; pinned: boolean }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [state, setState] = useState<'waiting' | 'live' | 'ended'>('waiting');
  const [error, setError] = useState<Error | null>(null);
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLPreElement>(null);
  // Following "the latest attempt" restarts when a new attempt appears; a pinned attempt is followed once.
  const key = pinned ? `a${attempt}` : `latest${attempt ?? 0}`;

  useEffect(() => {
    const abort = new AbortController();
    setLines([]);
    setError(null);
    setState('waiting');
    const path = `/api/v1/jobs/${encodeURIComponent(jobId)}/logs?follow=true${pinned && attempt ? `&attempt=${attempt}` : ''}`;
    followSse(path, abort.signal, (e) => {
      if (e.event === 'line') {
        setState('live');
        const line = JSON.parse(e.data) as LogLine;
        setLines((l) => (l.length > 5000 ? [...l.slice(-4000), line] : [...l, line]));
      } else if (e.event === 'end') {
        setState('ended');
      }
    }).then(() => setState('ended')).catch((err: Error) => {
      if (!abort.signal.aborted) setError(err);
    });
    return () => abort.abort();
  }, [jobId, key]);

  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, follow]);

  return (
    <Section title={`Logs${attempt ? ` (attempt ${attempt})` : ''}`} actions={
      <label className="inline"><input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Scroll to the newest line</label>
    }>
      <p className="muted" role="status">{state === 'waiting' ? 'Waiting for output…' : state === 'live' ? 'Live: lines appear as the container writes them.' : 'The attempt has ended.'}</p>
      <ErrorNote error={error} />
      <pre className="logs" ref={box} tabIndex={0} aria-label="Container output" data-testid="logs">
        {lines.map((l, i) => <span key={i} className={l.stream === 'stderr' ? 'stderr' : ''}>{l.text}{'\n'}</span>)}
      </pre>
    </Section>
  );
}
