import { ValidationPipe, type ValidationPipeOptions } from '@nestjs/common';
import type { ValidationError } from 'class-validator';
import { ApiError } from './api-error.js';

/** The one set of validation rules: the global pipe and a batch's per-entry checks both use it. */
export const VALIDATION_OPTIONS: ValidationPipeOptions = {
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  forbidUnknownValues: true,
};

/** A failed validation of one value: every rule broken, each with the field it names. */
export class EntryValidationError extends ApiError {
  constructor(readonly failures: { field: string; message: string }[]) {
    super('VALIDATION_FAILED', failures.map((f) => f.message).join('; '), failures[0]?.field);
  }
}

/** Leaf failures of class-validator's tree, named as the global pipe names them ("overrides.resources.vcpus must ..."). */
function flatten(errors: ValidationError[], parent = ''): { field: string; message: string }[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((m) => ({ field, message: parent ? `${parent}.${m}` : m }));
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

const entryPipe = new ValidationPipe({ ...VALIDATION_OPTIONS, exceptionFactory: (errors) => new EntryValidationError(flatten(errors)) });

/** Validates and transforms one value as the global pipe would a body of this class; throws EntryValidationError. */
export async function validateAs<T>(metatype: new () => T, value: unknown): Promise<T> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new EntryValidationError([{ field: '', message: 'each entry must be a JSON object (a submit body)' }]);
  }
  return entryPipe.transform(value, { type: 'body', metatype }) as Promise<T>;
}
