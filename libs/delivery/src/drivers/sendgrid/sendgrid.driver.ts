import { Injectable } from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import { GATEWAY_MESSAGE_ID_METADATA_KEY, type EmailAddress, type Mail } from '@mailgateway/contracts';
import { UpstreamRegistry, type UpstreamHttpClient, type UpstreamResponse } from '../../upstream';
import {
  accepted,
  attachmentBase64,
  describeResponse,
  outcomeOfStatus,
  parseJsonObject,
  parseRateLimitReset,
  pathUnder,
  parseRetryAfter,
  permanent,
  requestOutcome,
  requireSettings,
  retry,
} from '../kit';
import type { DeliveryOutcome, MailDriver, OutboundMessage } from '../mail-driver.interface';
import { SendgridConfig, sendgridConfig } from './sendgrid.settings';

/**
 * Twilio SendGrid v3 Mail Send (`POST /v3/mail/send`, `Authorization: Bearer <key>`).
 *
 * Classification, and why:
 * - 2xx (202; 200 in sandbox mode): accepted, with the X-Message-Id header as the provider id.
 * - 400 bad request, 413 payload too large: permanent. Both are about this message's content and
 *   the same request can only fail again.
 * - 401 (key missing, wrong or revoked), 403 (key lacks Mail Send, sender identity not verified, or
 *   a temporary block after repeated bad requests): retry. These are operator problems, not the
 *   message's: a permanent answer would fail every queued message during a bad key rotation, beyond
 *   repair. Retrying keeps them until the key is fixed, the message expires, or FALLBACK_MAIL_DRIVER
 *   takes over; the reason in the event history says what to fix.
 * - 404, 405: retry, for the same reason: Mail Send exists and takes POST, so these mean
 *   SENDGRID_API_URL points somewhere wrong (or a proxy in between misbehaves).
 * - 429: retry after Retry-After, else after X-RateLimit-Reset.
 * - 500, 502, 503, 504 and any other status outside 4xx: retry.
 * - Any other 4xx: permanent.
 *
 * SendGrid takes no idempotency key, so a request whose answer was lost is not resent by the
 * transport; the next attempt may send the message twice (reported as outcomeUnknown).
 */
@Injectable()
export class SendgridDriver implements MailDriver {
  readonly name = 'sendgrid';
  readonly forwardsIdempotencyKey = false;
  private readonly client: UpstreamHttpClient;
  private readonly path: string;
  private readonly authorization: string;

  constructor(@InjectConfig(sendgridConfig) config: SendgridConfig, registry: UpstreamRegistry) {
    const { SENDGRID_API_KEY: apiKey } = requireSettings(this.name, { SENDGRID_API_KEY: config.apiKey });
    this.client = registry.client(config.apiUrl);
    this.path = pathUnder(config.apiUrl, '/v3/mail/send');
    this.authorization = `Bearer ${apiKey}`;
  }

  async send({ id, mail }: OutboundMessage, signal: AbortSignal): Promise<DeliveryOutcome> {
    const request = {
      method: 'POST' as const,
      path: this.path,
      headers: {
        Authorization: this.authorization,
        'Content-Type': 'application/json',
        Accept: 'application/json',
      },
      body: JSON.stringify(toMailSend(id, mail)),
      idempotent: this.forwardsIdempotencyKey,
      signal,
    };
    return requestOutcome(this.client, request, classify);
  }
}

/**
 * The Mail Send body, with the gateway's id in custom_args (SendGrid echoes custom_args in every
 * event webhook). Validation reserves the key, so no caller's metadata is overwritten. One personalization carries the envelope; SendGrid refuses empty arrays, so
 * empty lists are left out. Its `to` is required: a message with only cc/bcc recipients is refused
 * (400) rather than rewritten here.
 */
function toMailSend(id: string, mail: Mail): Record<string, unknown> {
  const personalization: Record<string, unknown> = { to: mail.to.map(toAddress) };
  if (mail.cc.length > 0) personalization.cc = mail.cc.map(toAddress);
  if (mail.bcc.length > 0) personalization.bcc = mail.bcc.map(toAddress);
  const body: Record<string, unknown> = {
    personalizations: [personalization],
    from: mail.from ? toAddress(mail.from) : undefined,
    subject: mail.subject,
    // text/plain must come before text/html.
    content: [
      ...(mail.textBody ? [{ type: 'text/plain', value: mail.textBody }] : []),
      ...(mail.htmlBody ? [{ type: 'text/html', value: mail.htmlBody }] : []),
    ],
  };
  // reply_to and reply_to_list are mutually exclusive.
  if (mail.replyTo.length === 1) body.reply_to = toAddress(mail.replyTo[0]);
  if (mail.replyTo.length > 1) body.reply_to_list = mail.replyTo.map(toAddress);
  if (mail.attachments.length > 0) {
    body.attachments = mail.attachments.map((attachment) => ({
      content: attachmentBase64(attachment),
      filename: attachment.fileName,
      type: attachment.contentType,
      disposition: 'attachment',
    }));
  }
  if (mail.headers.length > 0)
    body.headers = Object.fromEntries(mail.headers.map(({ name, value }) => [name, value]));
  if (mail.tags.length > 0) body.categories = mail.tags;
  body.custom_args = { ...mail.metadata, [GATEWAY_MESSAGE_ID_METADATA_KEY]: id };
  return body;
}

function toAddress({ address, name }: EmailAddress): { email: string; name?: string } {
  return name ? { email: address, name } : { email: address };
}

function classify(response: UpstreamResponse): DeliveryOutcome {
  const { statusCode, headers } = response;
  if (statusCode >= 200 && statusCode <= 299) {
    const id = headers['x-message-id'];
    return accepted(typeof id === 'string' ? id : undefined);
  }
  const reason = describeResponse(statusCode, errorDetail(response.body));
  switch (statusCode) {
    case 400:
    case 413:
      return permanent(reason);
    case 401:
    case 403:
    case 404:
    case 405:
      return retry(`${reason} (check SENDGRID_API_KEY and SENDGRID_API_URL)`, parseRetryAfter(headers));
    case 429:
      return retry(reason, parseRetryAfter(headers) ?? parseRateLimitReset(headers));
    default:
      return outcomeOfStatus(statusCode, reason, headers);
  }
}

/** SendGrid's `{"errors":[{"field","message"}]}` as "field: message; ...". */
function errorDetail(body: string): string | undefined {
  const errors = parseJsonObject(body)?.errors;
  if (!Array.isArray(errors)) return undefined;
  const messages = errors
    .filter(
      (error): error is { field?: unknown; message?: unknown } => error !== null && typeof error === 'object',
    )
    .map(({ field, message }) =>
      typeof field === 'string' && field ? `${field}: ${String(message ?? '')}` : String(message ?? ''),
    )
    .filter(Boolean);
  return messages.length > 0 ? messages.join('; ') : undefined;
}
