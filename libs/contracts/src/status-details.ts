import { join } from 'node:path';
import { loadSync, Type } from 'protobufjs';
import { PROTO_ROOT } from './proto-files';

/** The trailer that carries a google.rpc.Status with typed error details (gRPC richer error model). */
export const STATUS_DETAILS_TRAILER = 'grpc-status-details-bin';
const RETRY_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.RetryInfo';

let types: { status: Type; retryInfo: Type } | undefined;

function statusTypes(): { status: Type; retryInfo: Type } {
  if (!types) {
    const root = loadSync([
      join(PROTO_ROOT, 'google/rpc/status.proto'),
      join(PROTO_ROOT, 'google/rpc/error_details.proto'),
    ]);
    types = {
      status: root.lookupType('google.rpc.Status'),
      retryInfo: root.lookupType('google.rpc.RetryInfo'),
    };
  }
  return types;
}

/** A google.rpc.Status carrying one RetryInfo, encoded for the status-details trailer. */
export function encodeRetryInfoStatus(code: number, message: string, retryDelayMs: number): Buffer {
  const { status, retryInfo } = statusTypes();
  const delay = Math.max(0, Math.ceil(retryDelayMs));
  const detail = retryInfo.encode(
    retryInfo.create({
      retryDelay: { seconds: Math.floor(delay / 1000), nanos: (delay % 1000) * 1_000_000 },
    }),
  );
  return Buffer.from(
    status
      .encode(
        status.create({
          code,
          message,
          details: [{ type_url: RETRY_INFO_TYPE_URL, value: detail.finish() }],
        }),
      )
      .finish(),
  );
}
