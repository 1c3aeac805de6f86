import { ErrorCode, GatewayException } from '@mailgateway/errors';
import type { ScheduleRefusal } from '@mailgateway/outbox';

/** A cancel or new send time came too late: an attempt holds the message, or it is final. */
export class MessageNotWaitingException extends GatewayException {
  readonly code = ErrorCode.FailedPrecondition;

  constructor(refusal: Exclude<ScheduleRefusal, { kind: 'not-found' }>, action: 'cancel' | 'reschedule') {
    super(
      refusal.kind === 'being-sent'
        ? action === 'cancel'
          ? `attempt ${refusal.attempt} is sending the message now; if it does not deliver, no other attempt follows and the message ends CANCELLED`
          : `attempt ${refusal.attempt} is sending the message now`
        : `the message is already ${refusal.status.toUpperCase()}`,
    );
  }
}
