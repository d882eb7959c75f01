/** A configuration variable that is missing or malformed; start-up stops on it. */
export class ConfigError extends Error {
  constructor(readonly variable: string, rule: string) {
    super(`invalid configuration: ${variable} ${rule}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Typed, validated reads of environment variables; every failure names the variable. */
export class EnvReader {
  constructor(private readonly env: Env) {}

  string(name: string, fallback?: string): string {
    const value = this.env[name]?.trim();
    if (value) return value;
    if (fallback !== undefined) return fallback;
    throw new ConfigError(name, 'is required');
  }

  url(name: string, protocols: string[], fallback?: string): string {
    const value = this.string(name, fallback);
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      throw new ConfigError(name, `must be a URL (${protocols.join(' or ')}://...)`);
    }
    if (!protocols.includes(parsed.protocol.replace(/:$/, ''))) {
      throw new ConfigError(name, `must use ${protocols.join(' or ')}://, got ${parsed.protocol}//`);
    }
    return value;
  }

  int(name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const raw = this.env[name]?.trim();
    if (!raw) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ConfigError(name, `must be an integer from ${min} to ${max}, got "${raw}"`);
    }
    return value;
  }

  number(name: string, fallback: number, min: number): number {
    const raw = this.env[name]?.trim();
    if (!raw) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min) {
      throw new ConfigError(name, `must be a number of at least ${min}, got "${raw}"`);
    }
    return value;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.env[name]?.trim();
    if (!raw) return fallback;
    if (!allowed.includes(raw as T)) throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${raw}"`);
    return raw as T;
  }

  /** Identifiers (worker ids, pool names): letters, digits, '-' and '_', up to 128. */
  identifier(name: string, fallback: string): string {
    const value = this.string(name, fallback);
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(value)) {
      throw new ConfigError(name, `must be 1-128 letters, digits, '-' or '_', got "${value}"`);
    }
    return value;
  }
}
