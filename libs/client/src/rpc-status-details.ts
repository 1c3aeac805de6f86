import { Metadata } from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';

/**
 * The parts of google.rpc.Status, google.protobuf.Any and google.rpc.RetryInfo that a retrying
 * client reads from the `grpc-status-details-bin` trailer (field numbers as published in
 * googleapis' google/rpc/status.proto and error_details.proto).
 */
const root = protobuf.Root.fromJSON({
  nested: {
    google: {
      nested: {
        protobuf: {
          nested: {
            Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
            Duration: { fields: { seconds: { type: 'int64', id: 1 }, nanos: { type: 'int32', id: 2 } } },
          },
        },
        rpc: {
          nested: {
            Status: {
              fields: {
                code: { type: 'int32', id: 1 },
                message: { type: 'string', id: 2 },
                details: { rule: 'repeated', type: 'google.protobuf.Any', id: 3 },
              },
            },
            RetryInfo: { fields: { retry_delay: { type: 'google.protobuf.Duration', id: 1 } } },
          },
        },
      },
    },
  },
});

const StatusType = root.lookupType('google.rpc.Status');
const RetryInfoType = root.lookupType('google.rpc.RetryInfo');
export const RETRY_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.RetryInfo';
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

interface DecodedStatus {
  details?: { type_url?: string; value?: Uint8Array }[];
}

interface DecodedRetryInfo {
  retry_delay?: { seconds?: number | { toNumber(): number }; nanos?: number };
}

/** A google.rpc.Status with one RetryInfo detail, as a server puts in `grpc-status-details-bin`. */
export function encodeRetryInfoStatus(code: number, message: string, retryDelayMs: number): Buffer {
  const retryInfo = RetryInfoType.encode(
    RetryInfoType.fromObject({
      retry_delay: { seconds: Math.floor(retryDelayMs / 1000), nanos: (retryDelayMs % 1000) * 1_000_000 },
    }),
  ).finish();
  return Buffer.from(
    StatusType.encode(
      StatusType.fromObject({
        code,
        message,
        details: [{ type_url: RETRY_INFO_TYPE_URL, value: retryInfo }],
      }),
    ).finish(),
  );
}

/**
 * How long the server asked the caller to wait: RetryInfo in the status details, else a
 * `retry-after` entry (seconds). Undefined when it gave no advice or the advice is unreadable.
 */
export function advisedRetryDelayMs(metadata: Metadata | undefined): number | undefined {
  if (!metadata) return undefined;
  for (const value of metadata.get(STATUS_DETAILS_KEY)) {
    try {
      const decoded = StatusType.toObject(StatusType.decode(value as Buffer)) as DecodedStatus;
      for (const detail of decoded.details ?? []) {
        if (detail.type_url !== RETRY_INFO_TYPE_URL || !detail.value) continue;
        const { retry_delay: delay } = RetryInfoType.toObject(
          RetryInfoType.decode(detail.value),
        ) as DecodedRetryInfo;
        const seconds = typeof delay?.seconds === 'object' ? delay.seconds.toNumber() : (delay?.seconds ?? 0);
        return Math.max(0, seconds * 1000 + Math.ceil((delay?.nanos ?? 0) / 1_000_000));
      }
    } catch {
      // A malformed trailer is no advice; fall through to the next source.
    }
  }
  const [retryAfter] = metadata.get('retry-after');
  const seconds = retryAfter === undefined ? NaN : Number(retryAfter.toString());
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}
