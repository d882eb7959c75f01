/**
 * Label selectors, as in Kubernetes: comma-separated terms `key=value`,
 * `key!=value`, `key` (present) and `!key` (absent); all must hold.
 */
export type LabelTerm =
  | { op: '='; key: string; value: string }
  | { op: '!='; key: string; value: string }
  | { op: 'exists'; key: string }
  | { op: '!exists'; key: string };

export type LabelSelector = readonly LabelTerm[];

const KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62}[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,62}[A-Za-z0-9])?)?$/;

export class LabelSelectorSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LabelSelectorSyntaxError';
  }
}

/** Parses a selector; throws LabelSelectorSyntaxError naming the bad term. */
export function parseLabelSelector(text: string): LabelSelector {
  if (text.trim() === '') return [];
  return text.split(',').map((raw) => {
    const term = raw.trim();
    const bad = (why: string) => new LabelSelectorSyntaxError(`labelSelector term "${term}" ${why}`);
    let parsed: LabelTerm;
    const neq = term.indexOf('!=');
    const eq = term.indexOf('=');
    if (neq > 0) parsed = { op: '!=', key: term.slice(0, neq).trim(), value: term.slice(neq + 2).trim() };
    else if (eq > 0) parsed = { op: '=', key: term.slice(0, eq).trim(), value: term.slice(eq + 1).trim().replace(/^=/, '') };
    else if (term.startsWith('!')) parsed = { op: '!exists', key: term.slice(1).trim() };
    else parsed = { op: 'exists', key: term };
    if (!KEY.test(parsed.key)) throw bad('must start with a label key of letters, digits, ".", "_", "/" or "-"');
    if ('value' in parsed && !VALUE.test(parsed.value)) throw bad('has a value that is not a valid label value');
    return parsed;
  });
}

/** Whether `labels` satisfy every term. */
export function labelsMatch(selector: LabelSelector | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (!selector) return true;
  return selector.every((t) => {
    const has = Object.hasOwn(labels, t.key);
    switch (t.op) {
      case '=': return has && labels[t.key] === t.value;
      case '!=': return !has || labels[t.key] !== t.value;
      case 'exists': return has;
      case '!exists': return !has;
    }
  });
}

/** Labels a worker declares: same key and value rules as selectors. Throws naming the bad entry. */
export function validateLabels(labels: Readonly<Record<string, string>>): void {
  for (const [k, v] of Object.entries(labels)) {
    if (!KEY.test(k)) throw new LabelSelectorSyntaxError(`label key "${k}" is not a valid label key`);
    if (typeof v !== 'string' || !VALUE.test(v)) throw new LabelSelectorSyntaxError(`label ${k} has an invalid value`);
  }
}
