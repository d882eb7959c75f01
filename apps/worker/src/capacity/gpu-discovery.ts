import { execFile } from 'node:child_process';
import type { GpuSetting } from '#libs/config';
import type { GpuDevice } from '#libs/queue';

export const NVIDIA_SMI_ARGS = ['--query-gpu=index,uuid,name,memory.total', '--format=csv,noheader,nounits'];

export interface DiscoveryOptions {
  /** Environment for nvidia-smi (its PATH decides which binary runs). */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Parses `nvidia-smi --query-gpu=index,uuid,name,memory.total --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(csv: string): GpuDevice[] {
  const devices: GpuDevice[] = [];
  const lines = csv.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const fields = line.split(',').map((f) => f.trim());
    const malformed = (why: string) =>
      new Error(`nvidia-smi output line ${i + 1} is malformed (${why}): "${line}"`);
    if (fields.length < 4) throw malformed('expected 4 fields: index, uuid, name, memory.total');
    // A model name could contain a comma; the other three fields never do.
    const [indexText, uuid] = fields;
    const memoryText = fields[fields.length - 1];
    const model = fields.slice(2, -1).join(', ');
    if (!/^\d+$/.test(indexText)) throw malformed(`index "${indexText}" is not a non-negative integer`);
    if (uuid === '') throw malformed('uuid is empty');
    if (model === '') throw malformed('name is empty');
    if (!/^\d+$/.test(memoryText) || Number(memoryText) <= 0) {
      throw malformed(`memory.total "${memoryText}" is not a positive number of MiB`);
    }
    devices.push({ index: Number(indexText), uuid, model, memoryMiB: Number(memoryText) });
  });
  return devices;
}

/** The GPUs this worker declares: none, the configured list, or what nvidia-smi reports. */
export async function discoverGpus(setting: GpuSetting, options: DiscoveryOptions = {}): Promise<GpuDevice[]> {
  switch (setting.mode) {
    case 'none':
      return [];
    case 'list':
      return setting.gpus.map((g, index) => ({ index, uuid: g.uuid ?? null, model: g.model, memoryMiB: g.memoryMiB, nvlinkGroup: g.nvlinkGroup ?? null }));
    case 'auto': {
      const csv = await runNvidiaSmi(options);
      return csv === null ? [] : parseNvidiaSmi(csv);
    }
  }
}

/** stdout of nvidia-smi, or null when the binary is not installed (a machine without GPUs). */
function runNvidiaSmi(options: DiscoveryOptions): Promise<string | null> {
  return new Promise((resolve, reject) => {
    execFile(
      'nvidia-smi',
      NVIDIA_SMI_ARGS,
      { env: options.env ?? process.env, timeout: options.timeoutMs ?? 15_000, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return resolve(null);
        const detail = (stderr || stdout || error.message).trim();
        const how = error.killed ? 'timed out' : `failed (exit code ${error.code ?? 'unknown'})`;
        reject(new Error(`GPU discovery: nvidia-smi ${how}: ${detail}; set WORKER_GPUS=none or a JSON list to skip detection`));
      },
    );
  });
}
