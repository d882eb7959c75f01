const REF = /Ref::([A-Za-z0-9_-]+)/g;

/** Most characters an expanded command may hold; past it expansion stops and `tooLong` is set. */
export const MAX_EXPANDED_COMMAND_CHARS = 256 * 1024;

/**
 * Replaces `Ref::name` in each argument with the parameter's value (submit
 * parameters first, then the definition's defaults). Names that have no
 * value are returned in `missing`, in order of first use. Expansion is
 * bounded: a few references to a long value must not build gigabytes.
 */
export function substituteParameters(
  command: readonly string[],
  ...sources: Readonly<Record<string, string>>[]
): { command: string[]; missing: string[]; tooLong: boolean } {
  const missing: string[] = [];
  let budget = MAX_EXPANDED_COMMAND_CHARS - command.reduce((n, arg) => n + arg.length, 0);
  const lookup = (name: string) => sources.find((s) => Object.hasOwn(s, name))?.[name];
  const result = command.map((arg) =>
    arg.replace(REF, (whole, name: string) => {
      const value = lookup(name);
      if (value === undefined) {
        if (!missing.includes(name)) missing.push(name);
        return whole;
      }
      budget -= value.length - whole.length;
      return budget < 0 ? '' : value;
    }),
  );
  return { command: result, missing, tooLong: budget < 0 };
}
