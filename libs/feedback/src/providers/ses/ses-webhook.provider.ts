import type { InboundRequest, Verification, WebhookProvider } from '../../intake/webhook-provider';
import { sesFeedback } from './ses-notification';
import type { SesConfig } from './ses.settings';
import type { SnsFetcher } from './sns-fetcher';
import { parseSnsMessage } from './sns-message';
import { hasValidSignature, isKnownSignatureVersion } from './sns-signature';
import { SnsSigningKeys } from './sns-signing-keys';
import { snsUrlProblem } from './sns-urls';

export interface SesWebhookOptions {
  /** How far a notification's Timestamp may be from its arrival (FEEDBACK_REPLAY_WINDOW_MS). */
  readonly replayWindowMs: number;
  readonly fetcher: SnsFetcher;
}

/**
 * Amazon SES feedback through an SNS HTTPS subscription, /webhooks/ses. Checked in this order,
 * each before anything is fetched: POST, SNS's JSON, an allowed TopicArn (SES_SNS_TOPIC_ARNS, else
 * 403), the Timestamp within the replay window, a SigningCertURL on SNS's own hosts; then the
 * signature (SignatureVersion 1 SHA1withRSA, 2 SHA256withRSA) with the certificate's key, fetched
 * once per URL. A SubscriptionConfirmation is confirmed by a GET of its SubscribeURL (same host
 * rule) and stores nothing. verify() rejects when a certificate or the confirmation cannot be
 * fetched: SNS should hear a 5xx and retry.
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
    if (Math.abs(request.receivedAt - sentAt) > this.options.replayWindowMs) {
      return refused(401, 'stale', `Timestamp ${message.Timestamp} is outside the replay window`);
    }
    const certificateProblem = snsUrlProblem(message.SigningCertURL, 'certificate');
    if (certificateProblem) {
      return refused(403, 'untrusted-certificate', `SigningCertURL ${certificateProblem}`);
    }
    if (!isKnownSignatureVersion(message.SignatureVersion)) {
      return refused(400, 'malformed', `SignatureVersion ${message.SignatureVersion} is not 1 or 2`);
    }
    const key = await this.keys.get(message.SigningCertURL);
    if (!hasValidSignature(message, key)) {
      return refused(401, 'unauthenticated', 'the signature does not match the message');
    }
    switch (message.Type) {
      case 'SubscriptionConfirmation': {
        const subscribeUrl = message.SubscribeURL ?? '';
        const problem = snsUrlProblem(subscribeUrl, 'subscribe');
        if (problem) return refused(403, 'untrusted-certificate', `SubscribeURL ${problem}`);
        await this.options.fetcher.get(subscribeUrl);
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
