import { INVARIANTS, type Invariant, type Violation } from './monitor.js';

export interface FaultRecord {
  index: number; kind: string; injectAt: number; recoveredAt?: number; endAt?: number;
  detail?: string; error?: string; failoverMs?: number;
}

export interface RunSummary {
  runId: string; seed: number; commit: string; count: number; inflightTarget: number;
  startedAt: string; durationSeconds: number; settle: { seconds: number; allTerminal: boolean; stalled: boolean };
  jobs: { accepted: number; rejected: number; rows: number; attempts: number; terminal: number; consequential: string[] };
  samples: Record<string, number>;
  faults: FaultRecord[];
  violations: Violation[];
  unexpectedExits: { name: string; at: string; code: number | null; signal: string | null; tail: string }[];
  failover: { samples: number[]; maxMs?: number; medianMs?: number };
}

export function scenarioLabel(faults: FaultRecord[], v: Violation): string {
  return v.fault === undefined ? 'baseline (no fault yet)' : faults[v.fault].kind;
}

/** Per-scenario table (runs, injection failures, violations per invariant) and the details. */
export function renderMarkdown(s: RunSummary, kinds: string[], maxDetails = 15): string {
  const lines: string[] = [];
  lines.push(`# gpubatch fault-injection run ${s.runId}`, '');
  lines.push(`commit ${s.commit}, seed ${s.seed}, ${s.faults.length} faults, ~${s.inflightTarget} jobs in flight, ${s.durationSeconds.toFixed(0)} s; ` +
    `jobs accepted ${s.jobs.accepted} (rows incl. array children ${s.jobs.rows}, attempts ${s.jobs.attempts}), submits refused during faults ${s.jobs.rejected}; ` +
    `settle ${s.settle.seconds.toFixed(0)} s (${s.settle.allTerminal ? 'all terminal' : s.settle.stalled ? 'stalled: no progress' : 'time limit'})`, '');
  const header = ['scenario', 'runs', 'injection errors', ...INVARIANTS];
  lines.push(`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`);
  const rowFor = (label: string, faults: number, errors: number, vs: Violation[]) =>
    `| ${label} | ${faults} | ${errors} | ${INVARIANTS.map((i) => vs.filter((v) => v.invariant === i).length).join(' | ')} |`;
  lines.push(rowFor('baseline (before any fault)', 0, 0, s.violations.filter((v) => v.fault === undefined)));
  for (const k of kinds) {
    const fs = s.faults.filter((f) => f.kind === k);
    if (fs.length === 0) continue;
    lines.push(rowFor(k, fs.length, fs.filter((f) => f.error).length, s.violations.filter((v) => v.fault !== undefined && s.faults[v.fault].kind === k)));
  }
  lines.push(rowFor('**total**', s.faults.length, s.faults.filter((f) => f.error).length, s.violations));
  lines.push('');
  const fo = s.failover;
  lines.push(fo.samples.length
    ? `Failover (leader SIGKILL until a probe job is placed): ${fo.samples.length} samples, median ${((fo.medianMs ?? 0) / 1000).toFixed(1)} s, max ${((fo.maxMs ?? 0) / 1000).toFixed(1)} s (target < 15 s): ${fo.samples.map((m) => (m / 1000).toFixed(1)).join(', ')}`
    : 'Failover: no scheduler kill in this run.');
  lines.push(`Samples: ${Object.entries(s.samples).map(([k, v]) => `${k} ${v}`).join(', ')}`, '');
  if (s.jobs.consequential.length) {
    lines.push(`Not counted again: ${s.jobs.consequential.length} open jobs that only wait for a stuck job or for resources stuck attempts hold, e.g.`);
    for (const c of s.jobs.consequential.slice(0, 5)) lines.push(`- ${c}`);
    lines.push('');
  }
  const errs = s.faults.filter((f) => f.error);
  if (errs.length) {
    lines.push('## Injection errors', '');
    for (const f of errs) lines.push(`- #${f.index} ${f.kind}: ${f.error}`);
    lines.push('');
  }
  if (s.unexpectedExits.length) {
    lines.push('## Processes that exited without being killed (restarted by the suite)', '');
    for (const e of s.unexpectedExits) lines.push(`- ${e.at} ${e.name} code ${e.code} signal ${e.signal}: ${e.tail.split('\n').filter(Boolean).slice(-2).join(' / ').slice(0, 400)}`);
    lines.push('');
  }
  if (s.violations.length) {
    lines.push('## Violations', '');
    for (const inv of INVARIANTS) {
      const vs = s.violations.filter((v) => v.invariant === inv);
      if (!vs.length) continue;
      lines.push(`### ${inv} (${vs.length})`, '');
      for (const v of vs.slice(0, maxDetails)) {
        const f = v.fault === undefined ? 'baseline' : `#${v.fault} ${s.faults[v.fault].kind}`;
        lines.push(`- [${f}] ${v.detail}`);
      }
      if (vs.length > maxDetails) lines.push(`- ... ${vs.length - maxDetails} more in report.json`);
      lines.push('');
    }
  }
  lines.push('## Faults', '');
  for (const f of s.faults) lines.push(`- #${f.index} ${f.kind} at +${((f.injectAt - Date.parse(s.startedAt)) / 1000).toFixed(0)} s: ${f.error ? `ERROR ${f.error}` : f.detail}`);
  return lines.join('\n') + '\n';
}

export type { Invariant };
