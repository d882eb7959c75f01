const REF = /Ref::([A-Za-z0-9_-]+)/g;

/**
 * Replaces `Ref::name` in each argument with the parameter's value (submit
 * parameters first, then the definition's defaults). Names that have no
 * value are returned in `missing`, in order of first use.
 */
export function substituteParameters(
  command: readonly string[],
  ...sources: Readonly<Record<string, string>>[]
): { command: string[]; missing: string[] } {
  const missing: string[] = [];
  const lookup = (name: string) => sources.find((s) => Object.hasOwn(s, name))?.[name];
  const result = command.map((arg) =>
    arg.replace(REF, (whole, name: string) => {
      const value = lookup(name);
      if (value === undefined) {
        if (!missing.includes(name)) missing.push(name);
        return whole;
      }
      return value;
    }),
  );
  return { command: result, missing };
}
