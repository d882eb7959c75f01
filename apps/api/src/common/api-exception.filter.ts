import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { awsErrorReply, isAwsBatchPath } from '../aws-batch/aws-errors.js';
import type { Logger } from '#libs/log';
import { ApiError, type ErrorBody } from './api-error.js';
import { apiMetrics } from '../metrics/api-metrics.js';

const CODE_BY_STATUS: Record<number, string> = {
  400: 'VALIDATION_FAILED',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

const PG_BAD_INPUT: Record<string, string> = {
  '22021': 'text must not contain NUL (\\u0000) characters',
  '22P05': 'text must not contain NUL (\\u0000) characters',
  '22001': 'a value is longer than its field allows',
  '22003': 'a number is out of the range its field allows',
  '22007': 'a date or time value is invalid',
  '22008': 'a date or time value is out of range',
};

/** Maps every error to one JSON shape; only a bug yields 500, and it is logged. */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const body = errorBody(exception);
    apiMetrics.errors.inc({ kind: body.code });
    if (body.statusCode >= 500) this.logger.error({ err: exception }, 'unhandled error');
    const request = host.switchToHttp().getRequest<FastifyRequest>();
    if (isAwsBatchPath(request?.url)) {
      // The AWS Batch API answers in AWS's error shape, so AWS clients raise the exception they know.
      const aws = awsErrorReply(body, exception, request.headers.authorization !== undefined);
      void reply.status(aws.status).header('x-amzn-errortype', aws.type).send(aws.body);
      return;
    }
    void reply.status(body.statusCode).send(body);
  }
}

/** The error body of any exception, as every reply (and every failed batch entry) carries it. */
export function errorBody(exception: unknown): ErrorBody {
  if (exception instanceof ApiError) {
    const extra = (exception as { results?: unknown }).results; // a rejected batch's per-entry failures
    return {
      statusCode: exception.status, code: exception.code, message: exception.message,
      ...(exception.field && { field: exception.field }), ...(extra !== undefined && { results: extra }),
    };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    const messages = typeof response === 'object' && response !== null ? (response as { message?: unknown }).message : response;
    const list = Array.isArray(messages) ? messages.map(String) : [String(messages ?? exception.message)];
    return {
      statusCode: status,
      code: CODE_BY_STATUS[status] ?? HttpStatus[status] ?? 'ERROR',
      message: list.join('; '),
      ...(Array.isArray(messages) ? { errors: list } : {}),
    };
  }
  // Postgres refusing a value the validators let through (a NUL byte, an out-of-range number): the input's fault.
  const pgCode = (exception as { driverError?: { code?: string }; code?: string })?.driverError?.code ?? (exception as { code?: string })?.code;
  if (typeof pgCode === 'string' && PG_BAD_INPUT[pgCode]) {
    return { statusCode: 400, code: 'VALIDATION_FAILED', message: PG_BAD_INPUT[pgCode] };
  }
  // A PATCH with null for a field that cannot be empty: name the field as the API spells it.
  const column = (exception as { column?: unknown })?.column;
  if (pgCode === '23502' && typeof column === 'string') {
    const field = column.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    return { statusCode: 400, code: 'VALIDATION_FAILED', message: `${field} must not be null` };
  }
  // Errors raised by Fastify itself before routing (body too large, bad JSON, bad content type).
  const statusCode = (exception as { statusCode?: unknown })?.statusCode;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    return { statusCode, code: CODE_BY_STATUS[statusCode] ?? 'BAD_REQUEST', message: (exception as Error).message };
  }
  return { statusCode: 500, code: 'INTERNAL', message: 'internal error' };
}
