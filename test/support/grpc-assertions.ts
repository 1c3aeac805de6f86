import { ServiceError, status } from '@grpc/grpc-js';

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
