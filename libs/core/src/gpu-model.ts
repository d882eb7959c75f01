/**
 * GPU model constraints such as `A100|H100`. A pattern matches a model when
 * it equals the model name or one of its words, ignoring case, so `A100`
 * matches nvidia-smi's `NVIDIA A100-SXM4-80GB` and `V100M16` matches `V100M16`.
 */
export type GpuModelConstraint = readonly string[];

const PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export class GpuModelSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GpuModelSyntaxError';
  }
}

/** Parses `A100|H100`; throws GpuModelSyntaxError naming what is wrong. */
export function parseGpuModel(text: string): GpuModelConstraint {
  const parts = text.split('|').map((p) => p.trim());
  if (parts.some((p) => p === '')) throw new GpuModelSyntaxError('gpuModel must be one or more model names separated by |, none empty');
  for (const p of parts) {
    if (!PATTERN.test(p)) throw new GpuModelSyntaxError(`gpuModel "${p}" must be 1-64 letters, digits, '.', '_' or '-'`);
  }
  return parts.map((p) => p.toLowerCase());
}

/** Whether a GPU of `model` satisfies the constraint (an empty constraint allows any). */
export function modelMatches(constraint: GpuModelConstraint | undefined, model: string): boolean {
  if (!constraint || constraint.length === 0) return true;
  const { name, words } = modelWords(model);
  return constraint.some((c) => c === name || words.includes(c));
}

// A cluster has a handful of model names and the core asks about them per GPU, per job: split each once.
const wordsByModel = new Map<string, { name: string; words: string[] }>();

function modelWords(model: string): { name: string; words: string[] } {
  let entry = wordsByModel.get(model);
  if (!entry) {
    const name = model.toLowerCase();
    entry = { name, words: name.split(/[^a-z0-9.]+/) };
    if (wordsByModel.size < 10_000) wordsByModel.set(model, entry);
  }
  return entry;
}
