import { CliError } from './cli-errors.js';
import { configPath, normalizeEndpoint, resolveConfig } from './cli-config.js';

describe('CLI configuration', () => {
  it('lives under XDG_CONFIG_HOME, else ~/.config', () => {
    expect(configPath({ XDG_CONFIG_HOME: '/x/conf', HOME: '/home/a' })).toBe('/x/conf/gpubatch/config.json');
    expect(configPath({ HOME: '/home/a' })).toBe('/home/a/.config/gpubatch/config.json');
    // A relative XDG_CONFIG_HOME is invalid by the spec and ignored.
    expect(configPath({ XDG_CONFIG_HOME: 'rel', HOME: '/home/a' })).toBe('/home/a/.config/gpubatch/config.json');
  });

  it('lets GPUBATCH_ENDPOINT and GPUBATCH_API_KEY override what login stored', () => {
    const stored = { endpoint: 'http://stored:3000', apiKey: 'stored-key' };
    expect(resolveConfig({}, stored)).toEqual(stored);
    expect(resolveConfig({ GPUBATCH_ENDPOINT: 'api.example:8080/', GPUBATCH_API_KEY: 'env-key' }, stored))
      .toEqual({ endpoint: 'http://api.example:8080', apiKey: 'env-key' });
    expect(() => resolveConfig({}, undefined)).toThrow('no endpoint configured');
    expect(() => resolveConfig({ GPUBATCH_ENDPOINT: 'http://a' }, undefined)).toThrow(CliError);
  });

  it('accepts http and https endpoints only', () => {
    expect(normalizeEndpoint('https://batch.example.com/')).toBe('https://batch.example.com');
    expect(() => normalizeEndpoint('ftp://x')).toThrow('must be http or https');
  });
});
