import { plainToInstance } from 'class-transformer';
import { validate, type ValidationError } from 'class-validator';
import { ApiError } from '../common/api-error.js';

const fail = (message: string): never => {
  throw new ApiError('VALIDATION_FAILED', message);
};

/**
 * Reads an AWS request body field by field, with AWS's field names in every
 * message: a wrong type is a 400 (ClientException) naming the field and what
 * it must be. Fields a request may carry that gpubatch does not read are left
 * alone (docs/aws-batch.md lists them as ignored); `refuse` rejects those
 * whose silent loss would run something other than what was asked.
 */
export class AwsInput {
  private constructor(private readonly value: Record<string, unknown>, private readonly path: string) {}

  static of(body: unknown, path = ''): AwsInput {
    if (body === undefined || body === null) return new AwsInput({}, path);
    if (typeof body !== 'object' || Array.isArray(body)) fail(`${path || 'the request body'} must be a JSON object`);
    return new AwsInput(body as Record<string, unknown>, path);
  }

  private name(field: string): string {
    return `${this.path}${field}`;
  }

  /** A field's full name, as messages give it (`nodeProperties.nodeRangeProperties[0].container.image`). */
  field(field: string): string {
    return this.name(field);
  }

  has(field: string): boolean {
    return this.value[field] !== undefined && this.value[field] !== null;
  }

  raw(field: string): unknown {
    return this.value[field];
  }

  string(field: string, required: true): string;
  string(field: string, required?: false): string | undefined;
  string(field: string, required = false): string | undefined {
    const v = this.value[field];
    if (v === undefined || v === null) return required ? fail(`${this.name(field)} is required`) : undefined;
    if (typeof v !== 'string') return fail(`${this.name(field)} must be a string`);
    if (required && v === '') return fail(`${this.name(field)} must not be empty`);
    return v;
  }

  oneOf<T extends string>(field: string, allowed: readonly T[], required = false): T | undefined {
    const v = this.string(field, required as false);
    if (v === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(v)) return fail(`${this.name(field)} must be one of ${allowed.join(', ')}`);
    return v as T;
  }

  integer(field: string, min: number, max: number, required = false): number | undefined {
    const v = this.value[field];
    if (v === undefined || v === null) return required ? fail(`${this.name(field)} is required`) : undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) return fail(`${this.name(field)} must be an integer from ${min} to ${max}`);
    return v;
  }

  number(field: string): number | undefined {
    const v = this.value[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) return fail(`${this.name(field)} must be a number`);
    return v;
  }

  boolean(field: string): boolean | undefined {
    const v = this.value[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') return fail(`${this.name(field)} must be true or false`);
    return v;
  }

  strings(field: string, max = 1000): string[] | undefined {
    const v = this.value[field];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) return fail(`${this.name(field)} must be a list of strings`);
    if (v.length > max) return fail(`${this.name(field)} may hold at most ${max} entries`);
    return v as string[];
  }

  /** A string-to-string map (tags, parameters). */
  map(field: string): Record<string, string> | undefined {
    const v = this.value[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) {
      return fail(`${this.name(field)} must be a map of strings to strings`);
    }
    return v as Record<string, string>;
  }

  object(field: string): AwsInput | undefined {
    const v = this.value[field];
    if (v === undefined || v === null) return undefined;
    return AwsInput.of(v, `${this.name(field)}.`);
  }

  objects(field: string, max = 1000): AwsInput[] | undefined {
    const v = this.value[field];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) return fail(`${this.name(field)} must be a list`);
    if (v.length > max) return fail(`${this.name(field)} may hold at most ${max} entries`);
    return v.map((x, i) => AwsInput.of(x, `${this.name(field)}[${i}].`));
  }

  /** AWS's [{ name, value }] environment lists, as a map. */
  keyValuePairs(field: string): Record<string, string> | undefined {
    const list = this.objects(field, 1000);
    if (!list) return undefined;
    const out: Record<string, string> = {};
    for (const pair of list) out[pair.string('name', true)] = pair.string('value') ?? '';
    return out;
  }

  /** Fields gpubatch cannot honour and must not drop silently. */
  refuse(fields: string[], why: string): void {
    for (const f of fields) if (this.has(f)) fail(`${this.name(f)} is not supported: ${why}`);
  }
}

/**
 * Runs gpubatch's own validation rules (the REST API's DTO class) over the
 * body an AWS request maps to: one set of rules, whichever API a request
 * came through. Messages name gpubatch's field, after the AWS operation.
 */
export async function validated<T extends object>(cls: new () => T, plain: object, operation: string): Promise<T> {
  const instance = plainToInstance(cls, plain);
  const errors = await validate(instance, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true });
  if (errors.length) fail(`${operation}: ${flatten(errors).join('; ')}`);
  return instance;
}

function flatten(errors: ValidationError[], prefix = ''): string[] {
  return errors.flatMap((e) => [
    ...Object.values(e.constraints ?? {}).map((m) => (prefix ? `${prefix}${m}` : m)),
    ...flatten(e.children ?? [], `${prefix}${e.property}.`),
  ]);
}
