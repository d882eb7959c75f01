import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { CliError, EXIT } from './cli-errors.js';

/** Where the CLI sends requests and which key it sends. */
export interface CliConfig {
  endpoint: string;
  apiKey: string;
}

/** `$XDG_CONFIG_HOME/gpubatch/config.json`, else `~/.config/gpubatch/config.json`. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(env.HOME || homedir(), '.config');
  return path.join(base, 'gpubatch', 'config.json');
}

/**
 * The configuration in force: GPUBATCH_ENDPOINT and GPUBATCH_API_KEY over
 * what `gpubatch login` stored. Missing either is a clear error.
 */
export function resolveConfig(env: NodeJS.ProcessEnv, stored: Partial<CliConfig> | undefined): CliConfig {
  const endpoint = env.GPUBATCH_ENDPOINT || stored?.endpoint;
  const apiKey = env.GPUBATCH_API_KEY || stored?.apiKey;
  if (!endpoint) throw new CliError('no endpoint configured: run `gpubatch login --endpoint <url>` or set GPUBATCH_ENDPOINT', EXIT.NOT_CONFIGURED);
  if (!apiKey) throw new CliError('no API key configured: run `gpubatch login` or set GPUBATCH_API_KEY', EXIT.NOT_CONFIGURED);
  return { endpoint: normalizeEndpoint(endpoint), apiKey };
}

/** `localhost:3000` → `http://localhost:3000`; no trailing slash. Anything but http(s) is refused. */
export function normalizeEndpoint(text: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new CliError(`the endpoint "${text}" is not a URL (e.g. http://localhost:3000)`, EXIT.USAGE);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`the endpoint must be http or https; got ${url.protocol}`, EXIT.USAGE);
  return url.toString().replace(/\/+$/, '');
}

/** The stored configuration, or undefined when there is none. */
export async function loadStoredConfig(env: NodeJS.ProcessEnv = process.env): Promise<Partial<CliConfig> | undefined> {
  const file = configPath(env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError(`cannot read ${file}: ${(error as Error).message}`, EXIT.NOT_CONFIGURED);
  }
  try {
    const parsed = JSON.parse(text);
    return { endpoint: typeof parsed.endpoint === 'string' ? parsed.endpoint : undefined, apiKey: typeof parsed.apiKey === 'string' ? parsed.apiKey : undefined };
  } catch {
    throw new CliError(`${file} is not valid JSON: run \`gpubatch login\` again`, EXIT.NOT_CONFIGURED);
  }
}

/** Writes the configuration readable by its owner only (0600, directory 0700), atomically. */
export async function saveConfig(config: CliConfig, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const file = configPath(env);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  // mode applies at creation; chmod covers a umask that would loosen it.
  await writeFile(temp, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  await chmod(temp, 0o600);
  await rename(temp, file);
  return file;
}
