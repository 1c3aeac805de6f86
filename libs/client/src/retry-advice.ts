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

export interface DecodedStatus {
  readonly code: number;
  readonly message: string;
  /** From the google.rpc.RetryInfo detail, if there is one. */
  readonly retryDelayMs?: number;
}

/** Reads a status-details trailer: the google.rpc.Status and the delay of its RetryInfo, if any. */
export function decodeStatusDetails(trailer: Buffer): DecodedStatus {
  const { status, retryInfo } = statusTypes();
  const toObject = { longs: Number, defaults: true };
  const decoded = status.toObject(status.decode(trailer), toObject) as {
    code: number;
    message: string;
    details: { type_url: string; value: Uint8Array }[];
  };
  const detail = decoded.details.find(({ type_url }) => type_url === RETRY_INFO_TYPE_URL);
  if (!detail) return { code: decoded.code, message: decoded.message };
  const { retryDelay } = retryInfo.toObject(retryInfo.decode(detail.value), toObject) as {
    retryDelay?: { seconds: number; nanos: number };
  };
  return {
    code: decoded.code,
    message: decoded.message,
    retryDelayMs: (retryDelay?.seconds ?? 0) * 1000 + Math.round((retryDelay?.nanos ?? 0) / 1_000_000),
  };
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
      const { retryDelayMs } = decodeStatusDetails(value as Buffer);
      if (retryDelayMs !== undefined) return Math.max(0, retryDelayMs);
    } catch {
      // A malformed trailer is no advice; fall through to the next source.
    }
  }
  const [retryAfter] = metadata.get('retry-after');
  const seconds = retryAfter === undefined ? NaN : Number(retryAfter.toString());
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}
