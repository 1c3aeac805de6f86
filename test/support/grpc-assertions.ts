import { ServiceError, status } from '@grpc/grpc-js';
import { decodeStatusDetails } from '@mailgateway/client';
import { STATUS_DETAILS_TRAILER } from '@mailgateway/contracts';

/** Awaits a call that must fail, and checks its gRPC status and message. */
export async function expectGrpcError(call: Promise<unknown>, code: status, details?: string | RegExp) {
  const error = await call.then(
    (response) => {
      throw new Error(`expected ${status[code]}, got a response: ${JSON.stringify(response)}`);
    },
    (error: ServiceError) => error,
  );
  expect(status[error.code]).toBe(status[code]);
  if (details !== undefined) expect(error.details).toMatch(details);
  return error;
}

/** What an over-limit answer says about when to come back: RetryInfo and retry-after. */
export function retryAdviceOf(error: ServiceError): { retryDelayMs?: number; retryAfterSeconds: number } {
  const [details] = error.metadata.get(STATUS_DETAILS_TRAILER);
  if (!Buffer.isBuffer(details)) throw new Error(`no ${STATUS_DETAILS_TRAILER} trailer on ${error.message}`);
  const decoded = decodeStatusDetails(details);
  expect(decoded.code).toBe(error.code);
  const [retryAfter] = error.metadata.get('retry-after');
  return { retryDelayMs: decoded.retryDelayMs, retryAfterSeconds: Number(retryAfter) };
}
