import { Injectable } from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import { GATEWAY_MESSAGE_ID_METADATA_KEY, type Mail } from '@mailgateway/contracts';
import { UpstreamRegistry, type UpstreamHttpClient, type UpstreamResponse } from '../../upstream';
import {
  accepted,
  attachmentBase64,
  describeResponse,
  formatMailbox,
  outcomeOfStatus,
  parseJsonObject,
  parseRetryAfter,
  pathUnder,
  permanent,
  requestOutcome,
  requireSettings,
  retry,
} from '../kit';
import type { DeliveryOutcome, MailDriver, OutboundMessage } from '../mail-driver.interface';
import { PostmarkConfig, postmarkConfig } from './postmark.settings';

/**
 * Postmark API error codes (the ErrorCode of a 422) that say nothing about the message: the server
 * token, the account or Postmark itself is the problem. They are retried so that queued messages
 * survive until an operator fixes it (or FALLBACK_MAIL_DRIVER takes over); the reason says what to
 * fix. Every other code refuses the message itself (300 invalid request, 400/401 sender signature
 * not found/confirmed, 402/403/409 bad JSON, 406 inactive recipient, 411 forbidden attachment...)
 * and is permanent.
 */
const RETRIED_ERROR_CODES: ReadonlyMap<number, string> = new Map([
  [10, 'check POSTMARK_SERVER_TOKEN'],
  [100, 'Postmark maintenance'],
  [405, 'the account may not send (e.g. out of credits)'],
  [412, 'the account is pending approval'],
  [413, 'the account may not send'],
  [429, 'rate limited'],
]);

interface PostmarkAnswer {
  readonly ErrorCode?: unknown;
  readonly Message?: unknown;
  readonly MessageID?: unknown;
}

/**
 * Postmark Email API (`POST /email`, `X-Postmark-Server-Token`).
 *
 * Classification, and why:
 * - 200 with ErrorCode 0: accepted, with MessageID.
 * - 422 (or a 200 with another ErrorCode): by ErrorCode, see RETRIED_ERROR_CODES; an unreadable
 *   422 is permanent (Postmark uses 422 for "this message is wrong").
 * - 401 (server token missing or wrong): retry, an operator problem, not the message's.
 * - 403: retry. Postmark's own refusals come as 422; a 403 is a network security layer in front
 *   of the API, which Postmark asks to be reported.
 * - 404: retry; /email exists, so POSTMARK_API_URL points somewhere wrong.
 * - 413 (over the 10 MB Email API limit): permanent.
 * - 429, 500, 503 and anything else outside 4xx: retry (Retry-After honoured).
 * - Any other 4xx: permanent.
 *
 * Postmark takes no idempotency key: a lost answer is not resent by the transport.
 */
@Injectable()
export class PostmarkDriver implements MailDriver {
  readonly name = 'postmark';
  readonly forwardsIdempotencyKey = false;
  private readonly client: UpstreamHttpClient;
  private readonly path: string;
  private readonly serverToken: string;
  private readonly messageStream: string;

  constructor(@InjectConfig(postmarkConfig) config: PostmarkConfig, registry: UpstreamRegistry) {
    const required = requireSettings(this.name, { POSTMARK_SERVER_TOKEN: config.serverToken });
    this.client = registry.client(config.apiUrl);
    this.path = pathUnder(config.apiUrl, '/email');
    this.serverToken = required.POSTMARK_SERVER_TOKEN;
    this.messageStream = config.messageStream;
  }

  async send({ id, mail }: OutboundMessage, signal: AbortSignal): Promise<DeliveryOutcome> {
    const request = {
      method: 'POST' as const,
      path: this.path,
      headers: {
        'X-Postmark-Server-Token': this.serverToken,
        'Content-Type': 'application/json',
        Accept: 'application/json',
      },
      body: JSON.stringify(this.toEmail(id, mail)),
      idempotent: this.forwardsIdempotencyKey,
      signal,
    };
    return requestOutcome(this.client, request, classify);
  }

  private toEmail(id: string, mail: Mail): Record<string, unknown> {
    const list = (addresses: Mail['to']) =>
      addresses.length > 0 ? addresses.map(formatMailbox).join(', ') : undefined;
    return {
      From: mail.from ? formatMailbox(mail.from) : undefined,
      To: list(mail.to),
      Cc: list(mail.cc),
      Bcc: list(mail.bcc),
      ReplyTo: list(mail.replyTo),
      Subject: mail.subject,
      TextBody: mail.textBody || undefined,
      HtmlBody: mail.htmlBody || undefined,
      Headers:
        mail.headers.length > 0
          ? mail.headers.map(({ name, value }) => ({ Name: name, Value: value }))
          : undefined,
      Attachments:
        mail.attachments.length > 0
          ? mail.attachments.map((attachment) => ({
              Name: attachment.fileName,
              Content: attachmentBase64(attachment),
              ContentType: attachment.contentType,
            }))
          : undefined,
      // Postmark keeps one tag per message: the first one is sent, the others are dropped.
      Tag: mail.tags[0],
      // Echoed in every webhook; validation reserves the key. Postmark limits metadata (how many
      // fields, key and value lengths): the caller's metadata may be refused there with 422.
      Metadata: { ...mail.metadata, [GATEWAY_MESSAGE_ID_METADATA_KEY]: id },
      MessageStream: this.messageStream,
    };
  }
}

function classify(response: UpstreamResponse): DeliveryOutcome {
  const { statusCode, headers } = response;
  const answer = parseJsonObject(response.body) as PostmarkAnswer | undefined;
  const errorCode = typeof answer?.ErrorCode === 'number' ? answer.ErrorCode : undefined;
  const message = typeof answer?.Message === 'string' ? answer.Message : undefined;
  const success = statusCode >= 200 && statusCode <= 299;
  if (success && !errorCode) {
    return accepted(typeof answer?.MessageID === 'string' ? answer.MessageID : undefined);
  }
  if (errorCode !== undefined && (success || statusCode === 422)) {
    const reason = describeResponse(
      statusCode,
      `Postmark error ${errorCode}${message ? `: ${message}` : ''}`,
    );
    const why = RETRIED_ERROR_CODES.get(errorCode);
    return why === undefined ? permanent(reason) : retry(`${reason} (${why})`, parseRetryAfter(headers));
  }
  const reason = describeResponse(statusCode, message);
  switch (statusCode) {
    case 401:
      return retry(`${reason} (check POSTMARK_SERVER_TOKEN)`, parseRetryAfter(headers));
    case 403:
      return retry(`${reason} (blocked in front of the Postmark API)`, parseRetryAfter(headers));
    case 404:
      return retry(`${reason} (check POSTMARK_API_URL)`, parseRetryAfter(headers));
    case 413:
    case 422:
      return permanent(reason);
    default:
      return outcomeOfStatus(statusCode, reason, headers);
  }
}
