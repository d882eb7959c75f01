import { parseGpuModel } from '../gpu-model.js';
import type { SimJob, SimNode } from './types.js';

/**
 * Trace loaders from CSV text (the caller reads the files). Both formats are
 * plain comma-separated values with a header row and no quoting.
 */

export class TraceFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TraceFormatError';
  }
}

export type TraceFormat = 'philly' | 'alibaba-pods' | 'alibaba-nodes';

const HEADERS: Record<TraceFormat, string[]> = {
  philly: ['timestamp', 'duration', 'num_gpus', 'cluster'],
  'alibaba-pods': ['name', 'cpu_milli', 'memory_mib', 'num_gpu', 'gpu_milli', 'gpu_spec', 'creation_time', 'deletion_time', 'scheduled_time'],
  'alibaba-nodes': ['sn', 'cpu_milli', 'memory_mib', 'gpu', 'model'],
};

/** Which trace a CSV holds, from its header row. */
export function detectFormat(text: string): TraceFormat | undefined {
  const header = new Set(firstLine(text).split(',').map((c) => c.trim()));
  return (Object.keys(HEADERS) as TraceFormat[]).find((f) => HEADERS[f].every((c) => header.has(c)));
}

function firstLine(text: string): string {
  const end = text.indexOf('\n');
  return (end < 0 ? text : text.slice(0, end)).replace(/\r$/, '');
}

/** Rows as column-name → value, with the 1-based line number; empty lines skipped. */
function* rows(text: string, required: readonly string[]): Generator<{ line: number; get: (column: string) => string }> {
  const lines = text.split('\n');
  const header = lines[0].replace(/\r$/, '').split(',').map((c) => c.trim());
  const index = new Map(header.map((c, i) => [c, i]));
  const missing = required.filter((c) => !index.has(c));
  if (missing.length) throw new TraceFormatError(`missing columns: ${missing.join(', ')}`);
  for (let i = 1; i < lines.length; i++) {
    const raw = lines[i].replace(/\r$/, '');
    if (raw.trim() === '') continue;
    if (raw.includes('"')) throw new TraceFormatError(`line ${i + 1}: quoted fields are not supported`);
    const cells = raw.split(',');
    if (cells.length !== header.length) throw new TraceFormatError(`line ${i + 1}: ${cells.length} fields, header has ${header.length}`);
    yield { line: i + 1, get: (column: string) => cells[index.get(column)!].trim() };
  }
}

function num(value: string, what: string, line: number): number {
  const n = Number(value);
  if (value === '' || !Number.isFinite(n)) throw new TraceFormatError(`line ${line}: ${what} "${value}" is not a number`);
  return n;
}

// ---------------------------------------------------------------- Philly

/** Virtual clusters simulated and their node counts, as the Helios (SC'21) simulator configures them. */
export const PHILLY_CLUSTERS: ReadonlyArray<readonly [string, number]> = [
  ['6214e9', 64], ['7f04ca', 32], ['11cb48', 16], ['b436b2', 64], ['ee9e8c', 64], ['e13805', 16],
  ['6c71a0', 32], ['2869ce', 16], ['ed69ec', 8], ['103959', 8], ['0e4a51', 32],
];

/** Philly has no node shapes: assumed 8 GPUs, 64 vCPUs, 512 GiB per node. */
export const PHILLY_NODE = { gpus: 8, vcpus: 64, memoryMiB: 512 * 1024, gpuModel: 'philly' } as const;
/** Per job: 4 vCPUs per GPU (at least 1) and 16 GiB per GPU (at least 16 GiB). */
export const PHILLY_VCPUS_PER_GPU = 4;
export const PHILLY_MIB_PER_GPU = 16 * 1024;
/** Jobs submitted 2017-10-01 00:00:00 to 2017-11-30 23:59:59 (UTC). */
export const PHILLY_WINDOW = { fromMs: Date.UTC(2017, 9, 1), toMs: Date.UTC(2017, 11, 1) } as const;

export interface PhillyCluster {
  id: string;
  nodes: SimNode[];
  jobs: SimJob[];
}

export interface PhillyTrace {
  clusters: PhillyCluster[];
  /** Rows of the 11 clusters submitted outside the window. */
  outsideWindow: number;
  /** Rows of other clusters (or of clusters not selected). */
  otherClusters: number;
}

/** Node count at a scale: rounded, at least 1. */
export function scaledCount(count: number, scale: number): number {
  return Math.max(1, Math.round(count * scale));
}

/** `YYYY-MM-DD HH:MM:SS`, read as UTC. */
export function parsePhillyTimestamp(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/.exec(text);
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : undefined;
}

/**
 * The Philly trace as the 11 virtual clusters (or the one named), each with
 * its node count × `scale` (rounded, at least 1) of PHILLY_NODE, and its jobs
 * submitted inside PHILLY_WINDOW. Timeouts are left to the simulator's
 * default: the job's duration.
 */
export function parsePhilly(text: string, options: { scale?: number; cluster?: string } = {}): PhillyTrace {
  const scale = options.scale ?? 1;
  if (!(scale > 0)) throw new TraceFormatError(`scale must be positive, got ${scale}`);
  const selected = PHILLY_CLUSTERS.filter(([id]) => !options.cluster || id === options.cluster);
  if (selected.length === 0) throw new TraceFormatError(`unknown Philly cluster ${options.cluster}; known: ${PHILLY_CLUSTERS.map(([id]) => id).join(', ')}`);
  const clusters = new Map<string, PhillyCluster>(selected.map(([id, count]) => [id, {
    id,
    nodes: Array.from({ length: scaledCount(count, scale) }, (_, i) => ({ id: `${id}-${String(i).padStart(3, '0')}`, ...PHILLY_NODE })),
    jobs: [],
  }]));
  let outsideWindow = 0;
  let otherClusters = 0;
  for (const row of rows(text, HEADERS.philly)) {
    const cluster = clusters.get(row.get('cluster'));
    if (!cluster) {
      otherClusters++;
      continue;
    }
    const submitMs = parsePhillyTimestamp(row.get('timestamp'));
    if (submitMs === undefined) throw new TraceFormatError(`line ${row.line}: timestamp "${row.get('timestamp')}" is not YYYY-MM-DD HH:MM:SS`);
    if (submitMs < PHILLY_WINDOW.fromMs || submitMs >= PHILLY_WINDOW.toMs) {
      outsideWindow++;
      continue;
    }
    const gpus = num(row.get('num_gpus'), 'num_gpus', row.line);
    const durationSeconds = num(row.get('duration'), 'duration', row.line);
    if (!Number.isInteger(gpus) || gpus < 0 || durationSeconds < 0) throw new TraceFormatError(`line ${row.line}: bad num_gpus or duration`);
    cluster.jobs.push({
      id: `philly-${row.line}`,
      submitMs,
      durationSeconds,
      gpus,
      vcpus: Math.max(1, PHILLY_VCPUS_PER_GPU * gpus),
      memoryMiB: Math.max(1, gpus) * PHILLY_MIB_PER_GPU,
    });
  }
  return { clusters: [...clusters.values()], outsideWindow, otherClusters };
}

// ---------------------------------------------------------------- Alibaba 2023

/**
 * GPU nodes of the Alibaba 2023 trace. With `scale` ≠ 1 each node shape
 * (vCPUs, memory, GPUs, model) keeps its first count × scale nodes
 * (rounded, at least 1).
 */
export function parseAlibabaNodes(text: string, scale = 1): SimNode[] {
  if (!(scale > 0)) throw new TraceFormatError(`scale must be positive, got ${scale}`);
  const byShape = new Map<string, SimNode[]>();
  for (const row of rows(text, HEADERS['alibaba-nodes'])) {
    const node: SimNode = {
      id: row.get('sn'),
      vcpus: num(row.get('cpu_milli'), 'cpu_milli', row.line) / 1000,
      memoryMiB: num(row.get('memory_mib'), 'memory_mib', row.line),
      gpus: num(row.get('gpu'), 'gpu', row.line),
      gpuModel: row.get('model'),
    };
    const shape = `${node.vcpus}/${node.memoryMiB}/${node.gpus}/${node.gpuModel}`;
    byShape.set(shape, [...(byShape.get(shape) ?? []), node]);
  }
  return [...byShape.values()].flatMap((nodes) => (scale === 1 ? nodes : nodes.slice(0, scaledCount(nodes.length, scale))));
}

export interface AlibabaPods {
  jobs: SimJob[];
  /** Pods without scheduled_time or deletion_time (never ran in the trace): skipped. */
  neverRan: number;
  /** GPU-sharing pods (gpu_milli < 1000 of one GPU) simulated as holding one whole GPU. */
  sharingAsWholeGpu: number;
  cpuOnly: number;
  withModelConstraint: number;
}

/**
 * Alibaba 2023 pods: submit = creation_time, run time = deletion_time −
 * scheduled_time (seconds from trace start), vCPUs = cpu_milli / 1000,
 * gpu_spec → GPU-model constraint. The core has no fractional GPUs, so a
 * sharing pod (num_gpu 1 with gpu_milli < 1000, or num_gpu 0 with
 * gpu_milli > 0) takes one whole GPU; num_gpu 0 with gpu_milli 0 is CPU-only.
 */
export function parseAlibabaPods(text: string): AlibabaPods {
  const out: AlibabaPods = { jobs: [], neverRan: 0, sharingAsWholeGpu: 0, cpuOnly: 0, withModelConstraint: 0 };
  for (const row of rows(text, HEADERS['alibaba-pods'])) {
    const scheduled = row.get('scheduled_time');
    const deleted = row.get('deletion_time');
    if (scheduled === '' || deleted === '') {
      out.neverRan++;
      continue;
    }
    const n = (column: string) => num(row.get(column), column, row.line);
    const numGpu = n('num_gpu');
    const gpuMilli = n('gpu_milli');
    const sharing = gpuMilli > 0 && gpuMilli < 1000 && numGpu <= 1;
    const gpus = numGpu > 0 ? numGpu : gpuMilli > 0 ? 1 : 0;
    if (sharing) out.sharingAsWholeGpu++;
    if (gpus === 0) out.cpuOnly++;
    const spec = row.get('gpu_spec');
    let gpuModel: readonly string[] | undefined;
    if (spec !== '') {
      try {
        gpuModel = [...new Set(parseGpuModel(spec))];
      } catch (e) {
        throw new TraceFormatError(`line ${row.line}: ${(e as Error).message}`);
      }
      if (gpus > 0) out.withModelConstraint++;
    }
    const durationSeconds = n('deletion_time') - n('scheduled_time');
    if (durationSeconds < 0) throw new TraceFormatError(`line ${row.line}: deletion_time before scheduled_time`);
    out.jobs.push({
      id: row.get('name'),
      submitMs: n('creation_time') * 1000,
      durationSeconds,
      gpus,
      vcpus: n('cpu_milli') / 1000,
      memoryMiB: n('memory_mib'),
      ...(gpuModel && gpus > 0 ? { gpuModel } : {}),
    });
  }
  return out;
}
