import { HttpStatus } from '@nestjs/common';

/** Stable error codes clients can switch on; each maps to one HTTP status. */
export const ERROR_STATUS = {
  VALIDATION_FAILED: HttpStatus.BAD_REQUEST,
  /** An all-or-nothing batch submit with a bad entry: nothing was written; the body lists each failure. */
  BATCH_REJECTED: HttpStatus.BAD_REQUEST,
  UNAUTHENTICATED: HttpStatus.UNAUTHORIZED,
  FORBIDDEN: HttpStatus.FORBIDDEN,
  API_KEY_NOT_FOUND: HttpStatus.NOT_FOUND,
  TOO_MANY_FOLLOWERS: HttpStatus.TOO_MANY_REQUESTS,
  TOO_MANY_REQUESTS: HttpStatus.TOO_MANY_REQUESTS,
  DEFINITION_NOT_FOUND: HttpStatus.NOT_FOUND,
  DEFINITION_INACTIVE: HttpStatus.CONFLICT,
  JOB_QUEUE_NOT_FOUND: HttpStatus.NOT_FOUND,
  JOB_QUEUE_EXISTS: HttpStatus.CONFLICT,
  JOB_QUEUE_DISABLED: HttpStatus.CONFLICT,
  JOB_QUEUE_IN_USE: HttpStatus.CONFLICT,
  JOB_NOT_FOUND: HttpStatus.NOT_FOUND,
  JOB_NOT_CANCELLABLE: HttpStatus.CONFLICT,
  INVALID_TRANSITION: HttpStatus.CONFLICT,
  WORKER_NOT_FOUND: HttpStatus.NOT_FOUND,
  SCHEDULE_NOT_FOUND: HttpStatus.NOT_FOUND,
  SCHEDULE_EXISTS: HttpStatus.CONFLICT,
  POOL_NOT_FOUND: HttpStatus.NOT_FOUND,
  POOL_EXISTS: HttpStatus.CONFLICT,
  PROJECT_NOT_FOUND: HttpStatus.NOT_FOUND,
  PROJECT_EXISTS: HttpStatus.CONFLICT,
  JOIN_TOKEN_NOT_FOUND: HttpStatus.NOT_FOUND,
  JOIN_TOKEN_EXISTS: HttpStatus.CONFLICT,
  JOIN_TOKEN_INVALID: HttpStatus.UNAUTHORIZED,
  WORKER_REVOKED: HttpStatus.FORBIDDEN,
  WORKER_IN_OTHER_POOL: HttpStatus.CONFLICT,
  PAYLOAD_TOO_LARGE: HttpStatus.PAYLOAD_TOO_LARGE,
  NOT_FOUND: HttpStatus.NOT_FOUND,
  INTERNAL: HttpStatus.INTERNAL_SERVER_ERROR,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** An error the API answers with its code's status and a message naming the problem. */
export class ApiError extends Error {
  readonly status: number;
  /** field: the body field at fault, when one is (a batch submit's results name it). */
  constructor(readonly code: ErrorCode, message: string, readonly field?: string) {
    super(message);
    this.name = 'ApiError';
    this.status = ERROR_STATUS[code];
  }
}

/** The body of every error response. */
export interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
  /** The body field at fault, when one is. */
  field?: string;
  /** A rejected batch submit: each failed entry. */
  results?: unknown;
  /** Every validation failure, each naming its field and rule. */
  errors?: string[];
}
