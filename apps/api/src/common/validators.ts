import { registerDecorator, type ValidationArguments, type ValidationOptions } from 'class-validator';
import { isCurrencyCode, parseGpuModel, parseLabelSelector, parsePrice } from '#libs/core';

/** Names of things (definitions, queues, pools, projects): AWS Batch's rule. */
export const NAME_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
export const NAME_RULE = 'must be 1-128 letters, digits, hyphens or underscores';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A flat object of string values with at most `maxEntries` keys; for
 * environments, keys must be valid variable names outside the GPUBATCH_
 * prefix, which gpubatch sets itself.
 */
export function IsStringMap(opts: { env?: boolean; maxEntries?: number } = {}, validation?: ValidationOptions) {
  const maxEntries = opts.maxEntries ?? 500;
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isStringMap',
      target: target.constructor,
      propertyName,
      options: validation,
      validator: {
        validate(value: unknown) {
          if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
          const entries = Object.entries(value);
          if (entries.length > maxEntries) return false;
          return entries.every(
            ([k, v]) =>
              typeof v === 'string' && v.length <= 32_768 && k.length > 0 && k.length <= 256 &&
              (!opts.env || (ENV_NAME.test(k) && !k.startsWith('GPUBATCH_'))),
          );
        },
        defaultMessage(args: ValidationArguments) {
          return opts.env
            ? `${args.property} must be an object of at most ${maxEntries} string values whose keys are variable names ([A-Za-z_][A-Za-z0-9_]*) not starting with GPUBATCH_`
            : `${args.property} must be an object of at most ${maxEntries} string values`;
        },
      },
    });
}

/** Validates with a core parser; the parser's own message (naming the field) becomes the 400 message. */
function IsParsedBy(name: string, parse: (text: string) => unknown) {
  return (target: object, propertyName: string) => {
    let lastError = '';
    registerDecorator({
      name,
      target: target.constructor,
      propertyName,
      validator: {
        validate(value: unknown) {
          if (typeof value !== 'string') {
            lastError = `${propertyName} must be a string`;
            return false;
          }
          try {
            parse(value);
            return true;
          } catch (error) {
            lastError = (error as Error).message;
            return false;
          }
        },
        defaultMessage: () => lastError,
      },
    });
  };
}

/** `A100|H100`: one or more GPU model names. */
export const IsGpuModel = () => IsParsedBy('isGpuModel', parseGpuModel);
/** `zone=a,nvlink,!spot`: a label selector. */
export const IsLabelSelector = () => IsParsedBy('isLabelSelector', parseLabelSelector);

/** A price: a non-negative decimal with at most 6 places, sent as a number or a string ("2.50"). */
export function IsPrice() {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isPrice',
      target: target.constructor,
      propertyName,
      validator: {
        validate: (value: unknown) => parsePrice(value) !== undefined,
        defaultMessage: () => `${propertyName} must be a non-negative decimal of at most 9 digits before the point and 6 after, as a number or a string such as "2.50"`,
      },
    });
}

/** GPU-hour prices by model: `{ "A100": "3.00" }`, at most 64 models. */
export function IsPriceByModel() {
  return (target: object, propertyName: string) => {
    let lastError = '';
    registerDecorator({
      name: 'isPriceByModel',
      target: target.constructor,
      propertyName,
      validator: {
        validate(value: unknown) {
          if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.keys(value).length > 64) {
            lastError = `${propertyName} must be an object of at most 64 GPU models and their prices`;
            return false;
          }
          for (const [model, price] of Object.entries(value)) {
            try {
              if (parseGpuModel(model).length !== 1) throw new Error(`${propertyName} keys must be single GPU model names, not "${model}"`);
            } catch (error) {
              lastError = `${propertyName}: ${(error as Error).message}`;
              return false;
            }
            if (parsePrice(price) === undefined) {
              lastError = `${propertyName}.${model} must be a non-negative decimal of at most 9 digits before the point and 6 after`;
              return false;
            }
          }
          return true;
        },
        defaultMessage: () => lastError,
      },
    });
  };
}

/** An ISO 4217 currency code such as USD or EUR. */
export function IsCurrency() {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isCurrency',
      target: target.constructor,
      propertyName,
      validator: {
        validate: (value: unknown) => typeof value === 'string' && isCurrencyCode(value),
        defaultMessage: () => `${propertyName} must be an ISO 4217 currency code such as USD or EUR`,
      },
    });
}
