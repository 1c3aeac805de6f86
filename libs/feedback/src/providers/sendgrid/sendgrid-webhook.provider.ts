import { Logger } from '@nestjs/common';
import { KeyObject, verify } from 'node:crypto';
import type { InboundRequest, Verification, WebhookProvider } from '../../intake/webhook-provider';
import {
  malformed,
  parseJsonBody,
  parseUnixSeconds,
  singleHeader,
  stale,
  unauthenticated,
  verified,
  withinReplayWindow,
} from '../../intake/verification';
import { parseSendgridEvents } from './sendgrid-events.parser';

export const SENDGRID_SIGNATURE_HEADER = 'X-Twilio-Email-Event-Webhook-Signature';
export const SENDGRID_TIMESTAMP_HEADER = 'X-Twilio-Email-Event-Webhook-Timestamp';

/**
 * SendGrid's Signed Event Webhook: an ECDSA P-256 / SHA-256 signature (base64 of DER) over the
 * timestamp header followed by the raw body, exactly as sent (its trailing CRLF included). The
 * signature is checked first, then the timestamp against the replay window, and only then is the
 * body parsed. A body that is not a JSON array is refused; within it, an event that is not
 * SendGrid's documented shape is skipped (and counted in the log), the others kept: refusing the
 * batch would make SendGrid retry it and then drop it whole.
 */
export class SendgridWebhookProvider implements WebhookProvider {
  readonly name = 'sendgrid';
  private readonly logger = new Logger(SendgridWebhookProvider.name);

  constructor(
    private readonly publicKey: KeyObject,
    private readonly replayWindowMs: number,
  ) {}

  verify(request: InboundRequest): Promise<Verification> {
    return Promise.resolve(this.check(request));
  }

  private check({ headers, body, receivedAt }: InboundRequest): Verification {
    const signature = singleHeader(headers, SENDGRID_SIGNATURE_HEADER);
    const timestamp = singleHeader(headers, SENDGRID_TIMESTAMP_HEADER);
    if (signature === undefined || timestamp === undefined)
      return unauthenticated(`${SENDGRID_SIGNATURE_HEADER} and ${SENDGRID_TIMESTAMP_HEADER} are required`);
    const signedAt = parseUnixSeconds(timestamp);
    if (signedAt === undefined) return unauthenticated(`${SENDGRID_TIMESTAMP_HEADER} is not Unix seconds`);
    if (!this.signatureMatches(Buffer.concat([Buffer.from(timestamp, 'utf8'), body]), signature))
      return unauthenticated('the signature does not match the body and timestamp');
    if (!withinReplayWindow(signedAt, receivedAt, this.replayWindowMs))
      return stale(`${SENDGRID_TIMESTAMP_HEADER} is outside the replay window`);
    const json = parseJsonBody(body);
    if (json === undefined) return malformed('the body is not JSON');
    const parsed = parseSendgridEvents(json);
    if ('problem' in parsed) return malformed(parsed.problem);
    // The count only: a skipped event's fields may hold addresses.
    if (parsed.skipped > 0)
      this.logger.warn(`Skipped ${parsed.skipped} malformed event(s) of a signed batch; kept the others`);
    return verified(parsed.feedback);
  }

  private signatureMatches(signed: Buffer, signature: string): boolean {
    try {
      return verify(
        'sha256',
        signed,
        { key: this.publicKey, dsaEncoding: 'der' },
        Buffer.from(signature, 'base64'),
      );
    } catch {
      return false; // not a DER signature at all
    }
  }
}
