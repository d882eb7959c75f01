/** The most submit bodies one `POST /api/v1/jobs:batch` takes (the API's MAX_BATCH_SUBMITS). */
export const BATCH_CHUNK = 1000;

/** One entry's outcome, in the order of the file. */
export type EntryResult =
  | { index: number; jobId: string; name: string }
  | { index: number; error: { statusCode: number; code: string; message: string; field?: string } };

/** What `POST /api/v1/jobs:batch` answers. */
export interface BatchReply {
  results: ({ index: number; jobId?: string; name?: string; error?: { statusCode: number; code: string; message: string; field?: string } })[];
}

/**
 * Submits the bodies through `post` (the jobs:batch call) in chunks of at
 * most `chunk`, in order, and returns one result per body with its index in
 * the whole list. A chunk the API refuses as a whole (a 4xx on the request)
 * fails each of its entries with that error; the other chunks still go.
 */
export async function submitInChunks(
  bodies: object[],
  post: (jobs: object[]) => Promise<BatchReply>,
  refusal: (error: unknown) => { statusCode: number; code: string; message: string } | undefined,
  chunk = BATCH_CHUNK,
): Promise<EntryResult[]> {
  const out: EntryResult[] = [];
  for (let start = 0; start < bodies.length; start += chunk) {
    const part = bodies.slice(start, start + chunk);
    let reply: BatchReply;
    try {
      reply = await post(part);
    } catch (error) {
      const refused = refusal(error);
      if (!refused) throw error;
      part.forEach((_, i) => out.push({ index: start + i, error: refused }));
      continue;
    }
    for (const r of reply.results) {
      out.push(r.jobId !== undefined ? { index: start + r.index, jobId: r.jobId, name: r.name ?? '' } : { index: start + r.index, error: r.error! });
    }
  }
  return out.sort((a, b) => a.index - b.index);
}
