import type { InboundRequest, Verification, WebhookProvider } from '../../intake/webhook-provider';
import { sesFeedback } from './ses-notification';
import type { SesConfig } from './ses.settings';
import type { SnsFetcher } from './sns-fetcher';
import { parseSnsMessage } from './sns-message';
import { hasValidSignature, isKnownSignatureVersion } from './sns-signature';
import { SnsSigningKeys } from './sns-signing-keys';
import { snsUrlProblem } from './sns-urls';

/**
 * How old a validly signed SNS message may be: SNS's default HTTP(S) delivery policy retries a
 * notification for about an hour, keeping its original Timestamp.
 */
export const SNS_MAX_RETRY_SPAN_MS = 60 * 60 * 1000;

export interface SesWebhookOptions {
  /**
   * How far ahead of its arrival a message's Timestamp may be (FEEDBACK_REPLAY_WINDOW_MS); how far
   * behind, SNS_MAX_RETRY_SPAN_MS (or this, when longer).
   */
  readonly replayWindowMs: number;
  readonly fetcher: SnsFetcher;
}

/**
 * Amazon SES feedback through an SNS HTTPS subscription, /webhooks/ses. Checked in this order,
 * each before anything is fetched: POST, SNS's JSON, an allowed TopicArn (SES_SNS_TOPIC_ARNS, else
 * 403), a SigningCertURL (and a confirmation's SubscribeURL) on SNS's own host for the topic's
 * region; then the signature (SignatureVersion 1 SHA1withRSA, 2 SHA256withRSA) with the
 * certificate's key, fetched once per URL; then the Timestamp: up to SNS_MAX_RETRY_SPAN_MS old
 * (SNS retries keep it) and FEEDBACK_REPLAY_WINDOW_MS ahead. A SubscriptionConfirmation is
 * confirmed by a GET of its SubscribeURL and stores nothing. verify() rejects when a certificate
 * or the confirmation cannot be fetched: SNS should hear a 5xx and retry.
 */
export class SesWebhookProvider implements WebhookProvider {
  readonly name = 'ses';
  private readonly topics: ReadonlySet<string>;
  private readonly keys: SnsSigningKeys;

  constructor(
    config: SesConfig,
    private readonly options: SesWebhookOptions,
  ) {
    this.topics = new Set(config.topicArns);
    this.keys = new SnsSigningKeys(options.fetcher);
  }

  async verify(request: InboundRequest): Promise<Verification> {
    if (request.method !== 'POST') {
      return refused(405, 'method', `${request.method} is not allowed; SNS posts its messages`);
    }
    const message = parseSnsMessage(request.body);
    if (typeof message === 'string') return refused(400, 'malformed', `not an SNS message: ${message}`);
    if (!this.topics.has(message.TopicArn)) {
      return refused(403, 'unauthenticated', `topic ${message.TopicArn} is not in SES_SNS_TOPIC_ARNS`);
    }
    const sentAt = Date.parse(message.Timestamp);
    if (Number.isNaN(sentAt)) return refused(400, 'malformed', 'Timestamp is not a date');
    const certificateProblem = snsUrlProblem(message.SigningCertURL, 'certificate', message.TopicArn);
    if (certificateProblem) {
      return refused(403, 'untrusted-certificate', `SigningCertURL ${certificateProblem}`);
    }
    if (message.Type === 'SubscriptionConfirmation') {
      const problem = snsUrlProblem(message.SubscribeURL ?? '', 'subscribe', message.TopicArn);
      if (problem) return refused(403, 'untrusted-certificate', `SubscribeURL ${problem}`);
    }
    if (!isKnownSignatureVersion(message.SignatureVersion)) {
      return refused(400, 'malformed', `SignatureVersion ${message.SignatureVersion} is not 1 or 2`);
    }
    const key = await this.keys.get(message.SigningCertURL);
    if (!hasValidSignature(message, key)) {
      return refused(401, 'unauthenticated', 'the signature does not match the message');
    }
    // Only now: SNS retries keep the original Timestamp, so a validly signed retry may be up to
    // SNS's retry span old. Replaying it is harmless: notifications are stored once per MessageId.
    const oldestAllowed = request.receivedAt - Math.max(SNS_MAX_RETRY_SPAN_MS, this.options.replayWindowMs);
    if (sentAt < oldestAllowed || sentAt > request.receivedAt + this.options.replayWindowMs) {
      return refused(401, 'stale', `Timestamp ${message.Timestamp} is outside the window SNS retries within`);
    }
    switch (message.Type) {
      case 'SubscriptionConfirmation': {
        await this.options.fetcher.get(message.SubscribeURL ?? '');
        return { kind: 'verified', feedback: [] };
      }
      case 'UnsubscribeConfirmation':
        return { kind: 'verified', feedback: [] };
      case 'Notification': {
        const feedback = sesFeedback(message.Message, message.MessageId, sentAt);
        if (!feedback) return refused(400, 'malformed', "the Message is not SES's notification JSON");
        return { kind: 'verified', feedback };
      }
    }
  }
}

function refused(
  status: 400 | 401 | 403 | 405,
  reason: Extract<Verification, { kind: 'refused' }>['reason'],
  explanation: string,
): Verification {
  return { kind: 'refused', status, reason, explanation };
}
