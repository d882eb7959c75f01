import { useState, type ReactNode } from 'react';
import { ApiError } from '../api';

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge badge-${status.toLowerCase()}`}>{status}</span>;
}

/**
 * Says in words that a job held GPUs it did not use (the API's gpuIdle): the
 * colour only repeats it.
 */
export function IdleGpuFlag({ testId = 'gpu-idle-flag' }: { testId?: string }) {
  return (
    <span className="flag flag-idle" data-testid={testId} title="Its GPUs averaged under 5% busy: it held GPUs it did not use">
      <span aria-hidden="true">⚠ </span>Idle GPUs
    </span>
  );
}

export function ErrorNote({ error }: { error: Error | null }) {
  if (!error) return null;
  const code = error instanceof ApiError ? `${error.code}: ` : '';
  return <p className="error" role="alert">{code}{error.message}</p>;
}

export function Loading({ what }: { what: string }) {
  return <p className="muted" role="status">Loading {what}…</p>;
}

export function Section(props: { title: string; children: ReactNode; actions?: ReactNode }) {
  const id = `h-${props.title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return (
    <section aria-labelledby={id} className="panel">
      <div className="panel-head">
        <h2 id={id}>{props.title}</h2>
        {props.actions}
      </div>
      {props.children}
    </section>
  );
}

/**
 * A button for an action that changes something (cancel, terminate, drain):
 * it asks to confirm, with a reason when the API takes one, before it calls.
 */
export function ActionButton(props: { label: string; confirm: string; withReason?: boolean; danger?: boolean; onConfirm: (reason: string) => Promise<void> }) {
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const id = `reason-${props.label.toLowerCase().replace(/\W+/g, '-')}`;
  if (!open) {
    return <button type="button" className={props.danger ? 'danger' : ''} onClick={() => { setOpen(true); setError(null); }}>{props.label}</button>;
  }
  return (
    <form
      className="confirm"
      onKeyDown={(e) => { if (e.key === 'Escape' && !busy) setOpen(false); }}
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        try {
          await props.onConfirm(reason.trim() || `${props.label} from the dashboard`);
          setOpen(false);
          setReason('');
        } catch (err) {
          setError(err as Error);
        } finally {
          setBusy(false);
        }
      }}
    >
      <span>{props.confirm}</span>
      {props.withReason && (
        <>
          <label htmlFor={id}>Reason</label>
          <input id={id} value={reason} onChange={(e) => setReason(e.target.value)} maxLength={1024} placeholder="why (shown as the job's reason)" autoFocus />
        </>
      )}
      <button type="submit" className={props.danger ? 'danger' : ''} disabled={busy} autoFocus={!props.withReason}>Confirm {props.label.toLowerCase()}</button>
      <button type="button" onClick={() => setOpen(false)} disabled={busy}>Keep</button>
      <ErrorNote error={error} />
    </form>
  );
}
