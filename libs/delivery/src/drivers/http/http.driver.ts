import { Injectable } from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import type { Mail } from '@mailgateway/contracts';
import { UpstreamRegistry, type UpstreamHttpClient, type UpstreamResponse } from '../../upstream';
import {
  accepted,
  attachmentBase64,
  describeResponse,
  outcomeOfStatus,
  parseJsonObject,
  requestOutcome,
  requireSettings,
} from '../kit';
import type { DeliveryOutcome, MailDriver, OutboundMessage } from '../mail-driver.interface';
import { HttpDriverConfig, httpDriverConfig } from './http.settings';

// Statuses that say "not now" rather than "never" (RFC 9110 §15, RFC 8470 for 425).
const RETRIED_4XX = new Set([408, 425, 429]);

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

  constructor(@InjectConfig(httpDriverConfig) config: HttpDriverConfig, registry: UpstreamRegistry) {
    const { authHeader, authValue } = config;
    const { HTTP_DRIVER_URL: url } = requireSettings(this.name, { HTTP_DRIVER_URL: config.url });
    const target = new URL(url);
    this.client = registry.client(url);
    this.path = `${target.pathname}${target.search}`;
    this.authorization = authValue ? { [authHeader]: authValue } : {};
  }

  async send(
    { id, attempt, idempotencyKey, mail }: OutboundMessage,
    signal: AbortSignal,
  ): Promise<DeliveryOutcome> {
    const request = {
      method: 'POST' as const,
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
    };
    return requestOutcome(this.client, request, classify);
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
    attachments: mail.attachments.map((attachment) => ({
      fileName: attachment.fileName,
      contentType: attachment.contentType,
      content: attachmentBase64(attachment),
    })),
    tags: mail.tags,
    metadata: mail.metadata,
  };
}

function classify(response: UpstreamResponse): DeliveryOutcome {
  const { statusCode } = response;
  const answer = parseJsonObject(response.body);
  if (statusCode >= 200 && statusCode <= 299) {
    const providerId = answer?.id ?? answer?.messageId;
    return accepted(
      typeof providerId === 'string' || typeof providerId === 'number' ? providerId : undefined,
    );
  }
  // Everything but a plain 4xx, 1xx/3xx and unusual 5xx included, is not a refusal of this message.
  return outcomeOfStatus(
    statusCode,
    describeResponse(statusCode, errorDetail(answer)),
    response.headers,
    RETRIED_4XX,
  );
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
