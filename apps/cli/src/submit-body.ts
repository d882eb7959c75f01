import { UsageError } from './cli-errors.js';

/** What `gpubatch submit` takes on its command line; every field optional, the file fills the rest. */
export interface SubmitFlags {
  name?: string;
  queue?: string;
  project?: string;
  gpus?: string;
  gpuModel?: string;
  vcpus?: string;
  memory?: string;
  parameter?: string[];
  env?: string[];
  arraySize?: string;
  dependsOn?: string[];
  timeout?: string;
  priority?: string;
  tag?: string[];
  command?: string[];
}

type Body = Record<string, any>;

/**
 * The POST /api/v1/jobs body: the file's (a submit body in YAML or JSON) with
 * the flags over it. Flags name what the API's fields mean: resources go to
 * overrides.resources, env to overrides.environment. A bad flag is a
 * UsageError naming it.
 */
export function buildSubmitBody(definition: string | undefined, flags: SubmitFlags, file: unknown = undefined): Body {
  if (file !== undefined && (typeof file !== 'object' || file === null || Array.isArray(file))) {
    throw new UsageError('the job file must hold a mapping of submit fields (name, queue, definition, ...)');
  }
  const body: Body = structuredClone((file as Body | undefined) ?? {});
  if (definition) body.definition = definition;
  if (!body.definition) throw new UsageError('a job definition is needed: gpubatch submit <definition>, or definition: in the job file');
  if (flags.name) body.name = flags.name;
  body.name ??= jobNameFrom(String(body.definition));
  if (flags.queue) body.queue = flags.queue;
  if (!body.queue) throw new UsageError('a queue is needed: --queue <name>, or queue: in the job file');
  if (flags.project) body.project = flags.project;
  if (flags.priority !== undefined) body.priority = integer('--priority', flags.priority, 0);

  const resources: Body = {};
  if (flags.gpus !== undefined) resources.gpus = integer('--gpus', flags.gpus, 0);
  if (flags.gpuModel) resources.gpuModel = flags.gpuModel;
  if (flags.vcpus !== undefined) resources.vcpus = positiveNumber('--vcpus', flags.vcpus);
  if (flags.memory !== undefined) resources.memoryMiB = parseMemoryMiB(flags.memory);
  const environment = parsePairs('--env', flags.env);
  if (Object.keys(resources).length || Object.keys(environment).length || flags.command?.length) {
    body.overrides = { ...body.overrides };
    if (Object.keys(resources).length) body.overrides.resources = { ...body.overrides.resources, ...resources };
    if (Object.keys(environment).length) body.overrides.environment = { ...body.overrides.environment, ...environment };
    if (flags.command?.length) body.overrides.command = flags.command;
  }
  const parameters = parsePairs('--parameter', flags.parameter);
  if (Object.keys(parameters).length) body.parameters = { ...body.parameters, ...parameters };
  const tags = parsePairs('--tag', flags.tag);
  if (Object.keys(tags).length) body.tags = { ...body.tags, ...tags };
  if (flags.arraySize !== undefined) body.array = { size: integer('--array-size', flags.arraySize, 2) };
  const deps = (flags.dependsOn ?? []).flatMap((d) => d.split(',')).map((d) => d.trim()).filter(Boolean);
  if (deps.length) body.dependsOn = [...(body.dependsOn ?? []), ...deps.map((jobId) => ({ jobId }))];
  if (flags.timeout !== undefined) body.timeoutSeconds = parseDurationSeconds(flags.timeout);
  return body;
}

/** A job name from a definition reference: `train-resnet:3` becomes `train-resnet`. */
export function jobNameFrom(definition: string): string {
  return definition.split(':')[0].replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 128) || 'job';
}

/** `KEY=VALUE` pairs (repeatable flag) into a map; the value may hold `=`. */
export function parsePairs(flag: string, pairs: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`${flag} takes KEY=VALUE; got "${pair}"`);
    out[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return out;
}

/** `512`, `512Mi`, `512M`, `4Gi`, `4G`: MiB (M and G count as Mi and Gi, as in the AWS Batch console). */
export function parseMemoryMiB(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*(Mi?|Gi?|Ti?)?(B)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`--memory takes MiB, or a size such as 512Mi or 4Gi; got "${text}"`);
  const scale = { m: 1, g: 1024, t: 1024 * 1024 }[(m[2]?.[0] ?? 'm').toLowerCase() as 'm' | 'g' | 't'];
  const mib = Number(m[1]) * scale;
  if (!Number.isInteger(mib) || mib < 1) throw new UsageError(`--memory must come to a whole number of MiB, at least 1; got "${text}"`);
  return mib;
}

/** `90`, `90s`, `15m`, `2h`, `1d`: seconds. */
export function parseDurationSeconds(text: string): number {
  const m = /^([0-9]+)\s*(s|m|h|d)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`--timeout takes seconds, or a duration such as 90s, 15m or 2h; got "${text}"`);
  const seconds = Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[(m[2] ?? 's').toLowerCase() as 's' | 'm' | 'h' | 'd'];
  if (seconds < 1) throw new UsageError(`--timeout must be at least 1 second; got "${text}"`);
  return seconds;
}

function integer(flag: string, text: string, min: number): number {
  const n = Number(text);
  if (!/^[0-9]+$/.test(text.trim()) || n < min) throw new UsageError(`${flag} must be a whole number of at least ${min}; got "${text}"`);
  return n;
}

function positiveNumber(flag: string, text: string): number {
  const n = Number(text);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text.trim()) || n <= 0) throw new UsageError(`${flag} must be a positive number; got "${text}"`);
  return n;
}
