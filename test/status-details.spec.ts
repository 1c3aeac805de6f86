import { status } from '@grpc/grpc-js';
import { decodeStatusDetails } from '@mailgateway/client';
import { encodeRetryInfoStatus } from '@mailgateway/contracts';

// The gateway encodes the status details; the client package reads them.
describe(encodeRetryInfoStatus.name, () => {
  it('round-trips a status with a RetryInfo delay through the client', () => {
    const bytes = encodeRetryInfoStatus(status.RESOURCE_EXHAUSTED, 'slow down', 1_234.2);
    expect(decodeStatusDetails(bytes)).toEqual({
      code: status.RESOURCE_EXHAUSTED,
      message: 'slow down',
      retryDelayMs: 1_235,
    });
  });

  it('is a google.rpc.Status whose detail is an Any of type RetryInfo', () => {
    const bytes = encodeRetryInfoStatus(status.RESOURCE_EXHAUSTED, 'x', 2_000);
    expect(bytes.toString('latin1')).toContain('type.googleapis.com/google.rpc.RetryInfo');
  });
});
