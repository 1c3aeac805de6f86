import { createHmac, timingSafeEqual } from 'node:crypto';
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
import { parseHttpFeedback } from './http-feedback.parser';

/** Standard Webhooks caps the id at 255 characters in practice; it is our event id column's size. */
const MAX_ID_LENGTH = 255;

/**
 * Standard Webhooks (standardwebhooks.com, spec "Verifying webhook authenticity"): HMAC-SHA256 over
 * `${webhook-id}.${webhook-timestamp}.${body}` with the base64 key of a `whsec_` secret; the
 * webhook-signature header lists space-separated `v1,<base64>` signatures. Any listed signature
 * matching any configured secret passes (rotation: both sides hold the old and the new key).
 *
 * node:crypto rather than the `standardwebhooks` package: the package checks the timestamp against
 * its own clock with a fixed five-minute tolerance (not FEEDBACK_REPLAY_WINDOW_MS, not the time the
 * listener read the request), reports a stale request and a forged one as the same error, takes one
 * secret per instance, and signs a string decoded from the body rather than the bytes received.
 */
export class HttpWebhookProvider implements WebhookProvider {
  readonly name = 'http';

  constructor(
    private readonly secrets: readonly Buffer[],
    private readonly replayWindowMs: number,
  ) {}

  verify(request: InboundRequest): Promise<Verification> {
    return Promise.resolve(this.check(request));
  }

  private check({ headers, body, receivedAt }: InboundRequest): Verification {
    const id = singleHeader(headers, 'webhook-id');
    const timestamp = singleHeader(headers, 'webhook-timestamp');
    const signatures = singleHeader(headers, 'webhook-signature');
    if (id === undefined || timestamp === undefined || signatures === undefined)
      return unauthenticated('webhook-id, webhook-timestamp and webhook-signature are required');
    if (id.length === 0 || id.length > MAX_ID_LENGTH)
      return unauthenticated('webhook-id is empty or too long');
    const signedAt = parseUnixSeconds(timestamp);
    if (signedAt === undefined) return unauthenticated('webhook-timestamp is not Unix seconds');
    if (
      !this.anySignatureMatches(Buffer.concat([Buffer.from(`${id}.${timestamp}.`, 'utf8'), body]), signatures)
    )
      return unauthenticated('no v1 signature matches a configured secret');
    if (!withinReplayWindow(signedAt, receivedAt, this.replayWindowMs))
      return stale('webhook-timestamp is outside the replay window');
    const json = parseJsonBody(body);
    if (json === undefined) return malformed('the body is not JSON');
    const parsed = parseHttpFeedback(json, id);
    return 'problem' in parsed ? malformed(parsed.problem) : verified([parsed.feedback]);
  }

  private anySignatureMatches(signed: Buffer, header: string): boolean {
    const offered = header
      .split(' ')
      .filter((entry) => entry.startsWith('v1,'))
      .map((entry) => Buffer.from(entry.slice(3), 'base64'));
    let matched = false;
    for (const secret of this.secrets) {
      const expected = createHmac('sha256', secret).update(signed).digest();
      for (const signature of offered)
        if (signature.length === expected.length && timingSafeEqual(signature, expected)) matched = true;
    }
    return matched;
  }
}
