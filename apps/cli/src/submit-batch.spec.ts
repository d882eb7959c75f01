import { BATCH_CHUNK, submitInChunks, type BatchReply } from './submit-batch.js';

describe('submitInChunks', () => {
  const ok = (jobs: object[]): BatchReply => ({ results: jobs.map((j, index) => ({ index, jobId: `id-${(j as { n: number }).n}`, name: 'x' })) });

  it('sends at most a chunk per request, in order, and numbers results across chunks', async () => {
    const sent: number[][] = [];
    const bodies = Array.from({ length: 5 }, (_, n) => ({ n }));
    const results = await submitInChunks(bodies, async (jobs) => {
      sent.push(jobs.map((j) => (j as { n: number }).n));
      return ok(jobs);
    }, () => undefined, 2);
    expect(sent).toEqual([[0, 1], [2, 3], [4]]);
    expect(results).toEqual([0, 1, 2, 3, 4].map((n) => ({ index: n, jobId: `id-${n}`, name: 'x' })));
    expect(BATCH_CHUNK).toBe(1000);
  });

  it("keeps an entry's own error, fails a chunk refused whole entry by entry, and stops on what the refusal does not cover", async () => {
    const refused = new Error('too large');
    const results = await submitInChunks([{ n: 0 }, { n: 1 }, { n: 2 }], async (jobs) => {
      if ((jobs[0] as { n: number }).n === 2) throw refused;
      return { results: [{ index: 0, jobId: 'id-0', name: 'x' }, { index: 1, error: { statusCode: 404, code: 'JOB_QUEUE_NOT_FOUND', message: 'no queue' } }] };
    }, (e) => (e === refused ? { statusCode: 413, code: 'PAYLOAD_TOO_LARGE', message: 'too large' } : undefined), 2);
    expect(results).toEqual([
      { index: 0, jobId: 'id-0', name: 'x' },
      { index: 1, error: { statusCode: 404, code: 'JOB_QUEUE_NOT_FOUND', message: 'no queue' } },
      { index: 2, error: { statusCode: 413, code: 'PAYLOAD_TOO_LARGE', message: 'too large' } },
    ]);
    await expect(submitInChunks([{ n: 0 }], async () => { throw new Error('unreachable'); }, () => undefined)).rejects.toThrow('unreachable');
  });
});
