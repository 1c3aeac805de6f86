import { Inject, Injectable } from '@nestjs/common';
import { ConfigurationError, GATEWAY_CONFIG, GatewayConfig } from '@mailgateway/config';
import type { Mail } from '@mailgateway/contracts';
import { UpstreamRegistry, type UpstreamHttpClient, type UpstreamResponse } from '../../upstream';
import type { DeliveryOutcome, MailDriver, OutboundMessage } from '../mail-driver.interface';
import { describeResponse, outcomeOfUpstreamFailure, parseRetryAfter } from '../upstream-outcomes';

// Statuses that say "not now" rather than "never" (RFC 9110 §15, RFC 8470 for 425).
const RETRIED_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504]);
const MAX_PROVIDER_ID_LENGTH = 255;

/**
 * POSTs each message as JSON to HTTP_DRIVER_URL: for an in-house mail service, or a relay in front
 * of a provider. The request body:
 *
 *   {
 *     "messageId": "<gateway message id>",
 *     "attempt": 1,
 *     "mail": {
 *       "from":    { "address": "billing@example.com", "name": "Billing" },
 *       "to":      [{ "address": "...", "name": "..." }],  "cc": [...], "bcc": [...], "replyTo": [...],
 *       "subject": "...", "textBody": "...", "htmlBody": "...",
 *       "headers": [{ "name": "X-Campaign", "value": "..." }],
 *       "attachments": [{ "fileName": "invoice.pdf", "contentType": "application/pdf", "content": "<base64>" }],
 *       "tags": ["invoice"], "metadata": { "key": "value" }
 *     }
 *   }
 *
 * Headers: `Content-Type: application/json`, `Idempotency-Key: <same on every attempt>` and, when
 * HTTP_DRIVER_AUTH_VALUE is set, `<HTTP_DRIVER_AUTH_HEADER>: <HTTP_DRIVER_AUTH_VALUE>`.
 *
 * The endpoint's contract: it MUST deduplicate on Idempotency-Key (the same key is the same message,
 * sent once), because the gateway resends a request whose answer was lost. It answers 2xx when it
 * has taken the message, optionally with a JSON body carrying its own id as "id" or "messageId";
 * 408/425/429/5xx (with Retry-After if it likes) for "try again later"; any other 4xx for "never".
 */
@Injectable()
export class HttpDriver implements MailDriver {
  readonly name = 'http';
  readonly forwardsIdempotencyKey = true;
  private readonly client: UpstreamHttpClient;
  private readonly path: string;
  private readonly authorization: Readonly<Record<string, string>>;

  constructor(@Inject(GATEWAY_CONFIG) config: GatewayConfig, registry: UpstreamRegistry) {
    const { url, authHeader, authValue } = config.drivers.http;
    if (!url) throw new ConfigurationError(['HTTP_DRIVER_URL: required when MAIL_DRIVER is http']);
    const target = new URL(url);
    this.client = registry.client(url);
    this.path = `${target.pathname}${target.search}`;
    this.authorization = authValue ? { [authHeader]: authValue } : {};
  }

  async send(
    { id, attempt, idempotencyKey, mail }: OutboundMessage,
    signal: AbortSignal,
  ): Promise<DeliveryOutcome> {
    let response: UpstreamResponse;
    try {
      response = await this.client.request({
        method: 'POST',
        path: this.path,
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json',
          'Idempotency-Key': idempotencyKey,
          ...this.authorization,
        },
        body: JSON.stringify({ messageId: id, attempt, mail: toJson(mail) }),
        idempotent: this.forwardsIdempotencyKey,
        signal,
      });
    } catch (error) {
      return outcomeOfUpstreamFailure(error);
    }
    return classify(response);
  }
}

function toJson(mail: Mail): Record<string, unknown> {
  return {
    from: mail.from ? { address: mail.from.address, name: mail.from.name } : null,
    to: mail.to,
    cc: mail.cc,
    bcc: mail.bcc,
    replyTo: mail.replyTo,
    subject: mail.subject,
    textBody: mail.textBody,
    htmlBody: mail.htmlBody,
    headers: mail.headers,
    attachments: mail.attachments.map(({ fileName, contentType, content }) => ({
      fileName,
      contentType,
      content: Buffer.from(content.buffer, content.byteOffset, content.byteLength).toString('base64'),
    })),
    tags: mail.tags,
    metadata: mail.metadata,
  };
}

function classify(response: UpstreamResponse): DeliveryOutcome {
  const { statusCode } = response;
  const answer = parseJson(response.body);
  if (statusCode >= 200 && statusCode <= 299) {
    const providerId = answer?.id ?? answer?.messageId;
    return typeof providerId === 'string' || typeof providerId === 'number'
      ? { kind: 'accepted', providerMessageId: String(providerId).slice(0, MAX_PROVIDER_ID_LENGTH) }
      : { kind: 'accepted' };
  }
  const reason = describeResponse(statusCode, errorDetail(answer));
  if (statusCode >= 400 && statusCode <= 499 && !RETRIED_STATUSES.has(statusCode))
    return { kind: 'permanent', reason };
  // Everything else, 1xx/3xx and unusual 5xx included, is not a refusal of this message.
  const retryAfterMs = parseRetryAfter(response.headers);
  return retryAfterMs === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, retryAfterMs };
}

function parseJson(body: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body);
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** "message" or "error" (a string, or an object with a message) from a JSON error body. */
function errorDetail(answer: Record<string, unknown> | undefined): string | undefined {
  const candidates = [
    answer?.message,
    answer?.error,
    (answer?.error as Record<string, unknown> | undefined)?.message,
  ];
  return candidates.find((value): value is string => typeof value === 'string' && value !== '');
}
