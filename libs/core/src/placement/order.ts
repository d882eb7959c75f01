import type { RunnableJob, SchedulingPolicy } from './types.js';

// A job without a timeout is charged an hour of its GPUs when fair share interleaves projects.
const NOMINAL_RUN_SECONDS = 3600;

/** Inside a queue: job priority (higher first), then submit time, then id. */
export function compareInQueue(a: RunnableJob, b: RunnableJob): number {
  return b.priority - a.priority || a.submittedAt - b.submittedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * The order in which the core considers jobs: queue priority (higher first);
 * inside a queue FIFO by job priority and submit time, or for FAIR_SHARE
 * queues interleaved across projects by decayed usage over weight (Slurm's
 * fair share); queues of equal priority merged by their next job.
 */
export function orderJobs(jobs: readonly RunnableJob[], fairShare?: SchedulingPolicy['fairShare']): RunnableJob[] {
  const byQueue = new Map<string, RunnableJob[]>();
  for (const job of jobs) {
    const list = byQueue.get(job.queue);
    if (list) list.push(job);
    else byQueue.set(job.queue, [job]);
  }
  const streams = [...byQueue.values()].map((list) => {
    list.sort(compareInQueue);
    return list[0].fairShare ? fairShareOrder(list, fairShare) : list;
  });
  streams.sort((a, b) => b[0].queuePriority - a[0].queuePriority);

  const ordered: RunnableJob[] = [];
  for (let i = 0; i < streams.length; ) {
    let j = i;
    while (j < streams.length && streams[j].length && streams[j][0].queuePriority === streams[i][0].queuePriority) j++;
    mergeInto(ordered, streams.slice(i, j));
    i = j;
  }
  return ordered;
}

/** k-way merge of same-priority queues, each already in its own order. */
function mergeInto(out: RunnableJob[], streams: RunnableJob[][]): void {
  if (streams.length === 1) {
    for (const job of streams[0]) out.push(job);
    return;
  }
  const heads = streams.map(() => 0);
  for (;;) {
    let pick = -1;
    for (let s = 0; s < streams.length; s++) {
      if (heads[s] >= streams[s].length) continue;
      if (pick < 0 || compareInQueue(streams[s][heads[s]], streams[pick][heads[pick]]) < 0) pick = s;
    }
    if (pick < 0) return;
    out.push(streams[pick][heads[pick]++]);
  }
}

/** Repeatedly takes the next job of the project with the least (usage + already ordered) / weight. */
function fairShareOrder(jobs: RunnableJob[], fairShare: SchedulingPolicy['fairShare']): RunnableJob[] {
  const byProject = new Map<string, RunnableJob[]>();
  for (const job of jobs) {
    const project = job.project ?? 'default';
    const list = byProject.get(project);
    if (list) list.push(job);
    else byProject.set(project, [job]);
  }
  const projects = [...byProject.entries()].map(([name, list]) => ({
    name, list, next: 0,
    charged: fairShare?.usage.get(name) ?? 0,
    weight: Math.max(fairShare?.weights?.get(name) ?? 1, 1e-9),
  }));
  const ordered: RunnableJob[] = [];
  while (ordered.length < jobs.length) {
    let pick: (typeof projects)[number] | undefined;
    for (const p of projects) {
      if (p.next >= p.list.length) continue;
      if (!pick || p.charged / p.weight < pick.charged / pick.weight || (p.charged / p.weight === pick.charged / pick.weight && p.name < pick.name)) pick = p;
    }
    const job = pick!.list[pick!.next++];
    ordered.push(job);
    // Charge what the job is expected to use, so one pass does not hand everything to one project.
    pick!.charged += Math.max(job.resources.gpus, 0.001) * (job.timeoutSeconds ?? NOMINAL_RUN_SECONDS);
  }
  return ordered;
}
