import { ServiceError, status } from '@grpc/grpc-js';
import { CancelMessageResponse, CancelMessagesResponse } from '@mailgateway/contracts';
import { TEST_API_KEY } from '@mailgateway/testing';
import { WireCaller } from './wire-caller';

/**
 * How one cancel of one id was answered: cancelled; refused because an attempt holds the message
 * (that attempt's number); refused because the message is final (the status it names); or
 * anything else (code and message), which a cancel of an existing message should never get.
 */
export type CancelAnswer =
  | { readonly kind: 'cancelled' }
  | { readonly kind: 'being-sent'; readonly attempt: number }
  | { readonly kind: 'final'; readonly status: string }
  | { readonly kind: 'other'; readonly code: string; readonly message: string };

/**
 * CancelMessage and CancelMessages over a bare grpc-js client (WireCaller), with the test API key,
 * each call made once (grpc-js retries off); every answer comes back as a CancelAnswer per id
 * (never thrown).
 */
export class CancelClient {
  private readonly wire: WireCaller;

  constructor(address: string) {
    this.wire = new WireCaller(address, TEST_API_KEY, { 'grpc.enable_retries': 0 });
  }

  async cancelMessage(messageId: string): Promise<CancelAnswer> {
    try {
      await this.wire.unary<CancelMessageResponse>('cancelMessage', { messageId });
      return { kind: 'cancelled' };
    } catch (error) {
      const { code, details } = error as ServiceError;
      return answerOf(status[code] ?? String(code), details);
    }
  }

  /** One CancelMessages call; one answer per id, in order (a failed call answers every id alike). */
  async cancelMessages(messageIds: readonly string[]): Promise<CancelAnswer[]> {
    try {
      const { results } = await this.wire.unary<CancelMessagesResponse>('cancelMessages', { messageIds });
      return results.map((result) =>
        result.cancelled ? { kind: 'cancelled' } : answerOf(result.rejected!.code, result.rejected!.reason),
      );
    } catch (error) {
      const { code, details } = error as ServiceError;
      return messageIds.map(() => ({ kind: 'other', code: status[code] ?? String(code), message: details }));
    }
  }

  close(): void {
    this.wire.close();
  }
}

function answerOf(code: string, message: string): CancelAnswer {
  if (code === 'FAILED_PRECONDITION') {
    const attempt = /attempt (\d+) is sending the message now/.exec(message);
    if (attempt) return { kind: 'being-sent', attempt: Number(attempt[1]) };
    const final = /the message is already (\w+)/.exec(message);
    if (final) return { kind: 'final', status: final[1] };
  }
  return { kind: 'other', code, message };
}
