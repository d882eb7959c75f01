import { ValidationPipe, type ValidationPipeOptions } from '@nestjs/common';
import { getMetadataStorage, type ValidationError } from 'class-validator';
import { ApiError } from './api-error.js';

/**
 * class-validator finds a class's rules by scanning every decorated class on
 * each validation (typestack/class-validator#2686): with a batch of 1,000
 * submit bodies and their nested classes that scan was the API's largest
 * single cost. A class's rules are all registered when it is loaded, before
 * anything can be validated against it, so the answer for a given class and
 * options never changes and is kept.
 */
function memoizeRuleLookup(): void {
  const storage = getMetadataStorage();
  const lookup = storage.getTargetValidationMetadatas.bind(storage);
  const cache = new WeakMap<object, Map<string, ReturnType<typeof lookup>>>();
  storage.getTargetValidationMetadatas = (target, schema, always, strictGroups, groups) => {
    let byOptions = cache.get(target);
    if (!byOptions) cache.set(target, (byOptions = new Map()));
    const key = `${schema}\u0000${always}\u0000${strictGroups}\u0000${groups?.join('\u0001') ?? ''}`;
    let rules = byOptions.get(key);
    if (!rules) byOptions.set(key, (rules = lookup(target, schema, always, strictGroups, groups)));
    return rules;
  };
}
memoizeRuleLookup();

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

/**
 * The global pipe for the entries of a body it has already walked (a
 * batch's submit bodies): its walks of the whole value are done once, for
 * the body, not again for each entry. They were a fifth of a batch's
 * validation. The body's walk already took the prototype keys out of every
 * entry and closed every array's gaps, in place, and a JSON body holds no
 * binary values; the entries' rules are then checked exactly as before.
 */
class WalkedEntryPipe extends ValidationPipe {
  protected override stripProtoKeys(): void {}
  protected override closeArrayGaps(): void {}
  protected override findNestedBinaryValues(): ValidationError[] {
    return [];
  }
}

const entryPipe = new WalkedEntryPipe({ ...VALIDATION_OPTIONS, exceptionFactory: (errors) => new EntryValidationError(flatten(errors)) });

/**
 * Validates and transforms one entry of a JSON body that the global pipe has
 * validated (its prototype keys stripped, its arrays' gaps closed) as the
 * global pipe would a body of this class; throws EntryValidationError.
 */
export async function validateAs<T>(metatype: new () => T, value: unknown): Promise<T> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new EntryValidationError([{ field: '', message: 'each entry must be a JSON object (a submit body)' }]);
  }
  return entryPipe.transform(value, { type: 'body', metatype }) as Promise<T>;
}
