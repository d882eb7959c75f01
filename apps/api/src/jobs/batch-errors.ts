import { ApiError } from '../common/api-error.js';
import { errorBody } from '../common/api-exception.filter.js';
import type { BatchEntryError, BatchEntryResult } from './dto/batch-submit.dto.js';

/** The submit body field each catalog error is about. */
const FIELD_BY_CODE: Record<string, string> = {
  JOB_QUEUE_NOT_FOUND: 'queue',
  JOB_QUEUE_DISABLED: 'queue',
  DEFINITION_NOT_FOUND: 'definition',
  DEFINITION_INACTIVE: 'definition',
  FORBIDDEN: 'project',
};

const SUBMIT_FIELDS = new Set([
  'name', 'queue', 'definition', 'overrides', 'parameters', 'priority', 'project', 'dependsOn', 'array', 'interruptible', 'clientToken',
  'timeoutSeconds', 'retryStrategy', 'tags', 'labelSelector',
]);

/** One failed entry's error: the error body a single submit would get, with the field at fault named. */
export function entryError(err: unknown): BatchEntryError {
  const body = errorBody(err);
  const named = err instanceof ApiError ? err.field : undefined;
  // Messages start with the field they are about ("dependsOn names jobs that do not exist: ...").
  const leading = /^([A-Za-z]+)((?:\.[A-Za-z0-9]+)*)\s/.exec(body.message);
  const field = named ?? FIELD_BY_CODE[body.code] ?? (leading && SUBMIT_FIELDS.has(leading[1]) ? leading[1] + leading[2] : undefined);
  return { statusCode: body.statusCode, code: body.code, message: body.message, ...(field !== undefined && { field }), ...(body.errors && { errors: body.errors }) };
}

/** An all-or-nothing batch with a failed entry: nothing was written. */
export class BatchRejectedError extends ApiError {
  constructor(failed: number, total: number, readonly results: BatchEntryResult[]) {
    super('BATCH_REJECTED', failed === 1 && results[0]?.index === -1
      ? `nothing was submitted (allOrNothing): ${results[0].error!.message}`
      : `${failed} of ${total} entries failed; nothing was submitted (allOrNothing)`);
  }
}
