import { ApiError } from '../common/api-error.js';

/**
 * gpubatch's ARNs: AWS's form with a fixed region and account, so clients
 * that store or parse ARNs keep working: arn:aws:batch:local:000000000000:
 * job/<id>, job-queue/<name>, job-definition/<name>:<revision>,
 * compute-environment/<pool>. Inputs take a name or any such ARN (whatever
 * its region and account).
 */
export const ARN_PREFIX = 'arn:aws:batch:local:000000000000:';

export type ArnKind = 'job' | 'job-queue' | 'job-definition' | 'compute-environment';

export const arnOf = {
  job: (id: string) => `${ARN_PREFIX}job/${id}`,
  jobQueue: (name: string) => `${ARN_PREFIX}job-queue/${name}`,
  jobDefinition: (name: string, revision: number) => `${ARN_PREFIX}job-definition/${name}:${revision}`,
  computeEnvironment: (name: string) => `${ARN_PREFIX}compute-environment/${name}`,
};

const ARN = /^arn:[a-z-]+:batch:[^:]*:[^:]*:(job|job-queue|job-definition|compute-environment)\/(.+)$/;

/** The kind and the name (id, `name:revision`) an ARN names, or undefined for anything that is not a Batch ARN. */
export function parseArn(value: string): { kind: ArnKind; name: string } | undefined {
  const m = ARN.exec(value);
  return m ? { kind: m[1] as ArnKind, name: m[2]! } : undefined;
}

/** A name, or the name inside an ARN of the expected kind; 400 naming the field otherwise. */
export function nameFrom(value: string, kind: ArnKind, field: string): string {
  if (!value.startsWith('arn:')) return value;
  const arn = parseArn(value);
  if (!arn || arn.kind !== kind) throw new ApiError('VALIDATION_FAILED', `${field} must be a name or a ${kind} ARN (${ARN_PREFIX}${kind}/...)`);
  return arn.name;
}
