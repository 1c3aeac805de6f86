import type { Metadata } from '@grpc/grpc-js';
import { loadSync, Type } from 'protobufjs';
import { RPC_STATUS_PROTO_PATHS } from './proto-files';

/** The trailer that carries a google.rpc.Status with typed error details (gRPC richer error model). */
const STATUS_DETAILS_TRAILER = 'grpc-status-details-bin';
const RETRY_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.RetryInfo';

let types: { status: Type; retryInfo: Type } | undefined;

function statusTypes(): { status: Type; retryInfo: Type } {
  if (!types) {
    const root = loadSync(RPC_STATUS_PROTO_PATHS);
    types = {
      status: root.lookupType('google.rpc.Status'),
      retryInfo: root.lookupType('google.rpc.RetryInfo'),
    };
  }
  return types;
}

interface DecodedStatus {
  details: { type_url: string; value: Uint8Array }[];
}

interface DecodedRetryInfo {
  retryDelay?: { seconds: number; nanos: number };
}

/** The delay of the google.rpc.RetryInfo in a status-details trailer, if it holds one. */
function retryInfoDelayMs(trailer: Buffer): number | undefined {
  const { status, retryInfo } = statusTypes();
  const toObject = { longs: Number, defaults: true };
  const decoded = status.toObject(status.decode(trailer), toObject) as DecodedStatus;
  const detail = decoded.details.find(({ type_url }) => type_url === RETRY_INFO_TYPE_URL);
  if (!detail) return undefined;
  const { retryDelay } = retryInfo.toObject(retryInfo.decode(detail.value), toObject) as DecodedRetryInfo;
  return (retryDelay?.seconds ?? 0) * 1000 + Math.round((retryDelay?.nanos ?? 0) / 1_000_000);
}

/**
 * How long the server asked the caller to wait: google.rpc.RetryInfo in the status details, else a
 * `retry-after` entry (seconds). Undefined when it gave no advice, or advice that cannot be read:
 * the gateway advises only when waiting helps (a rate limit, a full outbox), never for a message
 * that is too large or invalid.
 */
export function advisedRetryDelayMs(metadata: Metadata | undefined): number | undefined {
  if (!metadata) return undefined;
  for (const value of metadata.get(STATUS_DETAILS_TRAILER)) {
    try {
      const delayMs = retryInfoDelayMs(value as Buffer);
      if (delayMs !== undefined) return Math.max(0, delayMs);
    } catch {
      // A malformed trailer is no advice; fall through to the next source.
    }
  }
  const [retryAfter] = metadata.get('retry-after');
  const seconds = retryAfter === undefined ? NaN : Number(retryAfter.toString());
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}
