/**
 * Trace simulator: replays a real GPU-cluster trace through the scheduling
 * core (libs/core `schedule()`, the same function the scheduler runs) in
 * virtual time, and prints ONE JSON object on stdout (progress on stderr).
 *
 *   npm run build && npm run sim -- --trace <file> [--policy fifo|default] [--cluster <id>] [--scale <f>] [--gangs]
 *
 * --trace    philly.csv, or an Alibaba 2023 pod list (its node list,
 *            alibaba-2023-openb_node_list_gpu_node.csv, must be in the same folder)
 * --policy   fifo = strict FIFO; default = the default policy (backfill). Default: default
 * --cluster  Philly only: one virtual cluster; without it all 11 run, one after another
 * --scale    multiplies node counts (rounded, at least 1); for Alibaba, per node shape. Default: 1
 * --gangs    jobs wider than the largest node run as multi-node jobs on whole nodes (else: unplaceable)
 *
 * See docs/scheduling.md for the assumptions.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  combineRuns, detectFormat, parseAlibabaNodes, parseAlibabaPods, parsePhilly, simulate,
  PHILLY_MIB_PER_GPU, PHILLY_NODE, PHILLY_VCPUS_PER_GPU, PHILLY_WINDOW,
  type SimJob, type SimMetrics, type SimNode, type SimPolicy, type SimResult,
} from '../../libs/core/src/sim/index.js';

const ALIBABA_NODE_FILE = 'alibaba-2023-openb_node_list_gpu_node.csv';

interface Options {
  trace: string;
  policy: SimPolicy;
  cluster: string | undefined;
  scale: number;
  gangs: boolean;
}

function readOptions(): Options {
  const { values } = parseArgs({
    options: {
      trace: { type: 'string' },
      policy: { type: 'string', default: 'default' },
      cluster: { type: 'string' },
      scale: { type: 'string', default: '1' },
      gangs: { type: 'boolean', default: false },
    },
  });
  if (!values.trace) fail('--trace <file> is required');
  if (values.policy !== 'fifo' && values.policy !== 'default') fail(`--policy must be fifo or default, got ${values.policy}`);
  const scale = Number(values.scale);
  if (!Number.isFinite(scale) || scale <= 0) fail(`--scale must be a positive number, got ${values.scale}`);
  return { trace: values.trace, policy: values.policy, cluster: values.cluster, scale, gangs: values.gangs === true };
}

function fail(message: string): never {
  process.stderr.write(`sim: ${message}\n`);
  process.exit(2);
}

/** CPU time of this process in ms (user + system), for the time spent inside schedule(). */
function cpuClock(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function run(label: string, nodes: SimNode[], jobs: SimJob[], policy: SimPolicy, gangs = false): { result: SimResult; wallSeconds: number } {
  const t0 = performance.now();
  process.stderr.write(`sim: ${label}: ${nodes.length} nodes, ${jobs.length} jobs, policy ${policy}\n`);
  const result = simulate(nodes, jobs, {
    policy,
    gangs,
    clock: cpuClock,
    wallClock: () => performance.now(),
    onProgress: (p) => process.stderr.write(
      `sim: ${label}: ${p.scheduleCalls} calls, t=${new Date(p.nowMs).toISOString()}, started ${p.started}/${p.jobs}, waiting ${p.waiting}, running ${p.running}, ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
    ),
  });
  const wallSeconds = (performance.now() - t0) / 1000;
  process.stderr.write(`sim: ${label}: done in ${wallSeconds.toFixed(1)} s (${result.metrics.scheduleCalls} schedule() calls, ${(result.metrics.scheduleCpuMs / 1000).toFixed(1)} s CPU inside)\n`);
  return { result, wallSeconds };
}

/** Rounded for printing: seconds to 0.1, utilization to 4 digits. */
function tidy(m: SimMetrics): Record<string, number> {
  const r = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;
  return {
    jobs: m.jobs,
    unplaceableJobs: m.unplaceableJobs,
    ...(m.gangJobs !== undefined ? { gangJobs: m.gangJobs } : {}),
    avgQueueingDelaySeconds: r(m.avgQueueingDelaySeconds, 1),
    p95QueueingDelaySeconds: r(m.p95QueueingDelaySeconds, 1),
    maxQueueingDelaySeconds: r(m.maxQueueingDelaySeconds, 1),
    avgJobCompletionSeconds: r(m.avgJobCompletionSeconds, 1),
    gpuUtilization: r(m.gpuUtilization, 4),
    makespanSeconds: r(m.makespanSeconds, 1),
    busyGpuSeconds: r(m.busyGpuSeconds, 0),
    capacityGpuSeconds: r(m.capacityGpuSeconds, 0),
    scheduleCalls: m.scheduleCalls,
    scheduleCpuSeconds: r(m.scheduleCpuMs / 1000, 3),
    scheduleWallSeconds: r(m.scheduleWallMs / 1000, 3),
    avgScheduleCallMs: r(m.scheduleCalls ? m.scheduleCpuMs / m.scheduleCalls : 0, 3),
    maxScheduleCallMs: r(m.maxScheduleCallMs, 1),
    maxWaiting: m.maxWaiting,
  };
}

function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };
}

function runPhilly(text: string, o: Options): Record<string, unknown> {
  const trace = parsePhilly(text, { scale: o.scale, cluster: o.cluster });
  const runs = trace.clusters.map((c) => ({ cluster: c, ...run(`philly ${c.id}`, c.nodes, c.jobs, o.policy, o.gangs) }));
  return {
    assumptions: {
      node: PHILLY_NODE,
      job: `vcpus = max(1, ${PHILLY_VCPUS_PER_GPU} × gpus), memoryMiB = max(1, gpus) × ${PHILLY_MIB_PER_GPU}, timeout = duration`,
      window: [new Date(PHILLY_WINDOW.fromMs).toISOString(), new Date(PHILLY_WINDOW.toMs).toISOString()],
    },
    rowsOutsideWindow: trace.outsideWindow,
    rowsOfOtherClusters: trace.otherClusters,
    clusters: runs.map((r) => ({
      cluster: r.cluster.id,
      nodes: r.cluster.nodes.length,
      gpus: r.cluster.nodes.reduce((a, n) => a + n.gpus, 0),
      wallSeconds: Math.round(r.wallSeconds * 10) / 10,
      ...tidy(r.result.metrics),
    })),
    totals: {
      nodes: runs.reduce((a, r) => a + r.cluster.nodes.length, 0),
      ...(o.gangs ? { gangJobs: runs.reduce((a, r) => a + (r.result.metrics.gangJobs ?? 0), 0) } : {}),
      wallSeconds: Math.round(runs.reduce((a, r) => a + r.wallSeconds, 0) * 10) / 10,
      ...tidy(combineRuns(runs.map((r) => r.result))),
    },
  };
}

function runAlibaba(text: string, o: Options): Record<string, unknown> {
  if (o.cluster) fail('--cluster applies to the Philly trace only');
  const nodeFile = path.join(path.dirname(o.trace), ALIBABA_NODE_FILE);
  const nodes = parseAlibabaNodes(readFileSync(nodeFile, 'utf8'), o.scale);
  const pods = parseAlibabaPods(text);
  const { result, wallSeconds } = run(`alibaba ${path.basename(o.trace)}`, nodes, pods.jobs, o.policy);
  const byReason = (reason: string) => result.unplaceable.filter((u) => u.reason === reason).length;
  return {
    nodeFile,
    assumptions: {
      job: 'vcpus = cpu_milli / 1000; submit = creation_time; run time = deletion_time - scheduled_time; timeout = run time; ' +
        'a GPU-sharing pod (gpu_milli < 1000) holds one whole GPU; gpu_spec is the GPU-model constraint',
    },
    nodes: nodes.length,
    gpus: nodes.reduce((a, n) => a + n.gpus, 0),
    podsNeverRan: pods.neverRan,
    sharingPodsAsWholeGpu: pods.sharingAsWholeGpu,
    cpuOnlyPods: pods.cpuOnly,
    podsWithModelConstraint: pods.withModelConstraint,
    unplaceableByReason: { gpus: byReason('gpus'), vcpusOrMemory: byReason('vcpus-or-memory') },
    wallSeconds: Math.round(wallSeconds * 10) / 10,
    ...tidy(result.metrics),
  };
}

function main(): void {
  const o = readOptions();
  const t0 = performance.now();
  const text = readFileSync(o.trace, 'utf8');
  const format = detectFormat(text);
  let body: Record<string, unknown>;
  if (format === 'philly') body = runPhilly(text, o);
  else if (format === 'alibaba-pods') body = runAlibaba(text, o);
  else fail(`${o.trace}: neither philly.csv nor an Alibaba 2023 pod list (by its header)`);
  const out = {
    trace: path.basename(o.trace),
    format,
    policy: o.policy,
    coreMode: o.policy === 'fifo' ? 'strict-fifo' : 'backfill',
    scale: o.scale,
    gangs: o.gangs,
    ...(o.cluster ? { cluster: o.cluster } : {}),
    ...body,
    totalWallSeconds: Math.round((performance.now() - t0) / 100) / 10,
    machine: machine(),
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

main();
