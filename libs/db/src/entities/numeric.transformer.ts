import type { ValueTransformer } from 'typeorm';

/** pg returns numeric as a string to keep precision; vCPUs fit a JS number exactly. */
export const numericToNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null) => (value === null ? null : Number(value)),
};
