import { REASON_DETAIL_REFRESH_MS, REASON_DETAIL_WRITES_PER_PASS, reasonsToWrite } from './placement-pass.js';

const NOW = 1_000_000;
const visitAll = (reasons: [string, string][]) => (compare: (reason: string, id: string) => void) => {
  for (const [id, reason] of reasons) compare(reason, id);
};

describe('reasonsToWrite: which waiting reasons a pass writes to Postgres', () => {
  it('writes a new reason and a change of kind at once, and skips an unchanged one', () => {
    const written = new Map([
      ['same', { reason: 'PRIORITY: 3 jobs ahead in queue q', at: NOW - 1 }],
      ['kind', { reason: 'PRIORITY: 1 job ahead in queue q', at: NOW - 1 }],
    ]);
    const out = reasonsToWrite(visitAll([
      ['new', 'RESOURCE: needs 1 GPU'],
      ['same', 'PRIORITY: 3 jobs ahead in queue q'],
      ['kind', 'RESOURCE: needs 2 GPU'],
    ]), written, NOW);
    expect(out).toEqual({ ids: ['new', 'kind'], reasons: ['RESOURCE: needs 1 GPU', 'RESOURCE: needs 2 GPU'], capped: false, held: new Map() });
  });

  it('holds back a change in detail, with its reason, until the job\'s reason is REASON_DETAIL_REFRESH_MS old', () => {
    const at = (age: number) => new Map([['j', { reason: 'PRIORITY: 3 jobs ahead in queue q', at: NOW - age }]]);
    const detail = visitAll([['j', 'PRIORITY: 2 jobs ahead in queue q']]);
    expect(reasonsToWrite(detail, at(REASON_DETAIL_REFRESH_MS - 1), NOW)).toEqual({
      ids: [], reasons: [], capped: false, held: new Map([['j', 'PRIORITY: 2 jobs ahead in queue q']]),
    });
    expect(reasonsToWrite(detail, at(REASON_DETAIL_REFRESH_MS), NOW)).toEqual({
      ids: ['j'], reasons: ['PRIORITY: 2 jobs ahead in queue q'], capped: false, held: new Map(),
    });
  });

  it('writes at most REASON_DETAIL_WRITES_PER_PASS changes in detail, the first visited (head of the order) first', () => {
    const n = REASON_DETAIL_WRITES_PER_PASS + 3;
    const ids = Array.from({ length: n }, (_, i) => `j${i}`);
    const written = new Map(ids.map((id) => [id, { reason: 'RESOURCE: old detail', at: NOW - REASON_DETAIL_REFRESH_MS }]));
    const out = reasonsToWrite(visitAll([...ids.map((id) => [id, 'RESOURCE: new detail'] as [string, string]), ['fresh', 'GANG: 1 of 2 nodes']]), written, NOW);
    // The cap is on details only: a new reason still goes in the same pass.
    expect(out.ids).toEqual([...ids.slice(0, REASON_DETAIL_WRITES_PER_PASS), 'fresh']);
    expect(out.capped).toBe(true);
    expect(out.held.size).toBe(0);
  });
});
