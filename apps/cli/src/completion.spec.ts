import { bashCompletion, subcommandPaths, zshCompletion } from './completion.js';

describe('shell completion', () => {
  const root = {
    name: 'gpubatch', flags: ['-o', '--output'],
    subcommands: [{ name: 'ls', flags: ['--watch'], subcommands: [] }, { name: 'defs', flags: [], subcommands: [{ name: 'register', flags: ['-f'], subcommands: [] }] }],
  };

  it('lists every command path', () => {
    expect(subcommandPaths(root)).toEqual(['ls', 'defs', 'defs register']);
  });

  it('completes commands, their flags (with the global ones) and --output values in bash and zsh', () => {
    const bash = bashCompletion(root);
    expect(bash).toContain('"") words="ls defs -o --output" ;;');
    expect(bash).toContain('"ls") words="--watch -o --output" ;;');
    expect(bash).toContain('"defs register") words="-f -o --output" ;;');
    expect(bash).toContain('--output) COMPREPLY=( $(compgen -W "table json yaml" -- "$cur") ); return ;;');
    expect(zshCompletion(root)).toMatch(/^#compdef gpubatch\n[\s\S]*bashcompinit[\s\S]*complete -o default -F _gpubatch_complete gpubatch\n$/);
  });
});
