/** A command as completion sees it: its name, its flags and its subcommands. */
export interface CommandSpec {
  name: string;
  flags: string[];
  subcommands: CommandSpec[];
}

/** Flags that take one of a fixed set of values. */
const VALUES: Record<string, string[]> = { '--output': ['table', 'json', 'yaml'], '-o': ['table', 'json', 'yaml'] };

/**
 * A bash completion script: `eval "$(gpubatch completion bash)"`. It
 * completes command and subcommand names, each command's flags, the values
 * of --output, and file names after -f/--file.
 */
export function bashCompletion(root: CommandSpec): string {
  const cases: string[] = [];
  const walk = (cmd: CommandSpec, path: string[]) => {
    const words = [...new Set([...cmd.subcommands.map((s) => s.name), ...cmd.flags, ...root.flags])].join(' ');
    cases.push(`    "${path.join(' ')}") words="${words}" ;;`);
    for (const sub of cmd.subcommands) walk(sub, [...path, sub.name]);
  };
  walk(root, []);
  const valueCases = Object.entries(VALUES).map(([flag, values]) => `    ${flag}) COMPREPLY=( $(compgen -W "${values.join(' ')}" -- "$cur") ); return ;;`);
  return `# bash completion for ${root.name}; load with: eval "$(${root.name} completion bash)"
_${root.name}_complete() {
  local cur prev path words i w
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
${valueCases.join('\n')}
    -f|--file) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
  esac
  path=""
  for (( i=1; i<COMP_CWORD; i++ )); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    case "\${path:+$path }$w" in
${subcommandPaths(root).map((p) => `      "${p}") path="${p}" ;;`).join('\n')}
    esac
  done
  case "$path" in
${cases.join('\n')}
    *) words="" ;;
  esac
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
}
complete -o default -F _${root.name}_complete ${root.name}
`;
}

/**
 * A zsh completion script: `eval "$(gpubatch completion zsh)"` (or save it
 * as _gpubatch on $fpath). It uses bash's through bashcompinit, so both
 * shells complete the same words.
 */
export function zshCompletion(root: CommandSpec): string {
  return `#compdef ${root.name}
# zsh completion for ${root.name}; load with: eval "$(${root.name} completion zsh)"
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(root)}`;
}

/** "submit", "defs", "defs register", ...: every command path below the root. */
export function subcommandPaths(root: CommandSpec): string[] {
  const out: string[] = [];
  const walk = (cmd: CommandSpec, path: string[]) => {
    for (const sub of cmd.subcommands) {
      const p = [...path, sub.name];
      out.push(p.join(' '));
      walk(sub, p);
    }
  };
  walk(root, []);
  return out;
}
