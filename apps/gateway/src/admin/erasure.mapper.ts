import { EraseAddressRequest, EraseAddressResponse } from '@mailgateway/contracts';
import type { ErasureRequest, ErasureResult } from '@mailgateway/erasure';
import { addressProblem, ValidationException } from '@mailgateway/validation';
import { toTimestamp } from '../mail/mail.mapper';

/** Longest reason of an erasure (the contract's limit). */
const MAX_REASON_CHARS = 500;

/** The erasure asked for, validated; `requestedBy` is the calling source. */
export function toErasureRequest(request: EraseAddressRequest, requestedBy: string): ErasureRequest {
  const address = request.address ?? '';
  const problem = addressProblem(address);
  if (problem) throw new ValidationException('address', problem);
  const reason = (request.reason ?? '').trim();
  if (reason === '') throw new ValidationException('reason', 'required (why, e.g. a ticket reference)');
  if (reason.length > MAX_REASON_CHARS) {
    throw new ValidationException('reason', `${reason.length} characters; the limit is ${MAX_REASON_CHARS}`);
  }
  return { address, reason, requestedBy };
}

export function toEraseAddressResponse(result: ErasureResult): EraseAddressResponse {
  return {
    erasureId: result.erasureId,
    addressHash: result.addressHash,
    messagesShredded: result.messagesShredded,
    recordsRedacted: result.recordsRedacted,
    suppressionsKept: result.suppressionsKept,
    erasedAt: toTimestamp(result.erasedAt),
  };
}
