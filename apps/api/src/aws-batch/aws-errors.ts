import type { ErrorBody } from '../common/api-error.js';

/** Every path of the AWS Batch API (restJson1) starts here. */
export const AWS_BATCH_PREFIX = '/v1/';

export function isAwsBatchPath(url: string | undefined): boolean {
  return typeof url === 'string' && url.startsWith(AWS_BATCH_PREFIX);
}

export interface AwsErrorReply {
  status: number;
  type: string;
  body: { __type: string; message: string };
}

/**
 * gpubatch's error (already mapped from whatever was thrown) in AWS's shape:
 * the exception name in `x-amzn-ErrorType` and the body's `__type`, which is
 * what AWS SDKs and the AWS CLI read to raise the right exception. Bad input,
 * unknown or conflicting resources are AWS Batch's ClientException (400);
 * bugs are ServerException (500). Unauthenticated and forbidden are 403, as
 * in AWS, with the names AWS uses for them.
 */
export function awsErrorReply(error: ErrorBody, exception: unknown, hasCredentials: boolean): AwsErrorReply {
  const named = (exception as { awsType?: unknown })?.awsType;
  let status: number;
  let type: string;
  if (error.statusCode === 401) {
    // AWS answers 403 for every authentication failure (the REST API keeps 401); SDKs and the CLI go by the name.
    status = 403;
    type = typeof named === 'string' ? named : hasCredentials ? 'UnrecognizedClientException' : 'MissingAuthenticationTokenException';
  } else if (error.statusCode === 403) {
    [status, type] = [403, 'AccessDeniedException'];
  } else if (error.statusCode === 429) {
    [status, type] = [429, 'TooManyRequestsException'];
  } else if (error.statusCode >= 500) {
    [status, type] = [500, 'ServerException'];
  } else {
    [status, type] = [400, 'ClientException'];
  }
  return { status, type, body: { __type: type, message: error.message } };
}
