import { Injectable } from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import {
  GATEWAY_MESSAGE_ID_HEADER,
  GATEWAY_MESSAGE_ID_METADATA_KEY,
  type EmailAddress,
  type Mail,
} from '@mailgateway/contracts';
import { ClientCredentialsToken } from '../../oauth/client-credentials-token';
import { TokenRequestException } from '../../oauth/token-request.exception';
import { UpstreamRegistry, type UpstreamHttpClient, type UpstreamResponse } from '../../upstream';
import {
  accepted,
  attachmentBase64,
  describeResponse,
  formatMailbox,
  MAX_PROVIDER_ID_LENGTH,
  outcomeOfStatus,
  outcomeOfUpstreamFailure,
  parseJsonObject,
  pathUnder,
  permanent,
  requireSettings,
  retry,
} from '../kit';
import type { DeliveryOutcome, MailDriver, OutboundMessage } from '../mail-driver.interface';
import { FlowmailerConfig, flowmailerConfig } from './flowmailer.settings';

const MEDIA_TYPE = 'application/vnd.flowmailer.v1.12+json';

interface Submission {
  readonly recipientAddress: string;
  /** Flowmailer has one To header per submission. */
  readonly headerTo: EmailAddress;
}

/**
 * Flowmailer REST API v1.12: an OAuth2 client credentials token from FLOWMAILER_TOKEN_URL, then
 * `POST /{accountId}/messages/submit` with a SubmitMessage.
 *
 * A SubmitMessage has exactly one recipientAddress, so a message is submitted once per envelope
 * recipient (to, then cc, then bcc; an address listed twice only once), one after the other. Each
 * copy shows one To header: a To recipient sees itself, a Cc/Bcc recipient sees the first To
 * recipient (itself when there is none); Cc is not shown. Flowmailer takes no idempotency key and
 * the driver keeps no state between attempts: if submission k fails after submissions 1..k-1 were
 * accepted, the next attempt submits to every recipient again, so the first ones get a second copy.
 * Such a retry is reported with outcomeUnknown.
 *
 * Classification, and why:
 * - 201 Created (any 2xx): accepted; the id is the last segment of the Location header.
 * - 401: the token is refreshed once and the submission resent once; a second 401 is retried
 *   (operator problem: client id/secret or their rights).
 * - 400 (the SubmitMessage is invalid): permanent.
 * - 403 (authenticated, but this API client may not do this on this account): retry, an operator
 *   problem; failing the message for good would lose it while the client's roles are fixed.
 * - 404: retry; the endpoint exists, so FLOWMAILER_ACCOUNT_ID or FLOWMAILER_API_URL is wrong.
 * - 429 and 5xx (and anything else outside 4xx): retry, honouring Retry-After.
 * - Any other 4xx: permanent.
 * - The token endpoint failing (unreachable, bad credentials): retry, never permanent.
 */
@Injectable()
export class FlowmailerDriver implements MailDriver {
  readonly name = 'flowmailer';
  readonly forwardsIdempotencyKey = false;
  private readonly client: UpstreamHttpClient;
  private readonly token: ClientCredentialsToken;
  private readonly path: string;

  constructor(@InjectConfig(flowmailerConfig) config: FlowmailerConfig, registry: UpstreamRegistry) {
    const { apiUrl, tokenUrl } = config;
    const required = requireSettings(this.name, {
      FLOWMAILER_ACCOUNT_ID: config.accountId,
      FLOWMAILER_CLIENT_ID: config.clientId,
      FLOWMAILER_CLIENT_SECRET: config.clientSecret,
    });
    const clientId = required.FLOWMAILER_CLIENT_ID;
    const clientSecret = required.FLOWMAILER_CLIENT_SECRET;
    this.client = registry.client(apiUrl);
    this.path = pathUnder(apiUrl, `/${encodeURIComponent(required.FLOWMAILER_ACCOUNT_ID)}/messages/submit`);
    this.token = new ClientCredentialsToken(registry.client(tokenUrl), {
      tokenUrl,
      clientId,
      clientSecret,
      scope: 'api',
      headers: { Accept: MEDIA_TYPE },
    });
  }

  async send({ id, mail }: OutboundMessage, signal: AbortSignal): Promise<DeliveryOutcome> {
    const submissions = envelope(mail);
    const common = commonFields(id, mail);
    const ids: string[] = [];
    let submitted = 0;
    for (const { recipientAddress, headerTo } of submissions) {
      if (submitted > 0 && signal.aborted) {
        return afterPartialSubmission(
          { kind: 'retry', reason: 'stopped by shutdown' },
          submitted,
          submissions.length,
        );
      }
      let outcome: DeliveryOutcome;
      try {
        outcome = await this.submit(
          JSON.stringify({
            ...common,
            recipientAddress,
            headerToAddress: headerTo.address,
            headerToName: headerTo.name || undefined,
          }),
          signal,
        );
      } catch (error) {
        if (submitted === 0) throw error;
        const reason = `driver error: ${error instanceof Error ? error.message : String(error)}`;
        return afterPartialSubmission({ kind: 'retry', reason }, submitted, submissions.length);
      }
      if (outcome.kind !== 'accepted') return afterPartialSubmission(outcome, submitted, submissions.length);
      submitted += 1;
      if (outcome.providerMessageId) ids.push(outcome.providerMessageId);
    }
    return ids.length > 0 ? { kind: 'accepted', providerMessageId: joinIds(ids) } : { kind: 'accepted' };
  }

  private async submit(body: string, signal: AbortSignal): Promise<DeliveryOutcome> {
    try {
      let token = await this.token.get(signal);
      let response = await this.post(body, token, signal);
      if (response.statusCode === 401) {
        // Revoked or expired early: one new token and one more try (a 401 means nothing was sent).
        this.token.invalidate(token);
        token = await this.token.get(signal);
        response = await this.post(body, token, signal);
      }
      return classify(response);
    } catch (error) {
      if (error instanceof TokenRequestException) return retry(`Flowmailer ${error.message}`);
      return outcomeOfUpstreamFailure(error);
    }
  }

  private post(body: string, token: string, signal: AbortSignal): Promise<UpstreamResponse> {
    return this.client.request({
      method: 'POST',
      path: this.path,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': MEDIA_TYPE, Accept: MEDIA_TYPE },
      body,
      idempotent: this.forwardsIdempotencyKey,
      signal,
    });
  }
}

/** One submission per distinct envelope recipient, in to, cc, bcc order. */
function envelope(mail: Mail): Submission[] {
  const seen = new Set<string>();
  const submissions: Submission[] = [];
  const add = (recipient: EmailAddress, headerTo: EmailAddress) => {
    const key = recipient.address.toLowerCase();
    if (seen.has(key)) return;
    seen.add(key);
    submissions.push({ recipientAddress: recipient.address, headerTo });
  };
  for (const to of mail.to) add(to, to);
  for (const other of [...mail.cc, ...mail.bcc]) add(other, mail.to[0] ?? other);
  return submissions;
}

/**
 * The SubmitMessage fields shared by every recipient's copy (attachments are encoded once). The
 * gateway's id travels as a header (kept in the message's headersIn, which the event poller reads)
 * and in data (shown with the message in Flowmailer's dashboard); validation reserves both.
 */
function commonFields(id: string, mail: Mail): Record<string, unknown> {
  const headers = mail.headers.map(({ name, value }) => ({ name, value }));
  headers.push({ name: GATEWAY_MESSAGE_ID_HEADER, value: id });
  // SubmitMessage has no reply-to field: it travels as a header.
  if (mail.replyTo.length > 0)
    headers.push({ name: 'Reply-To', value: mail.replyTo.map(formatMailbox).join(', ') });
  return {
    messageType: 'EMAIL',
    senderAddress: mail.from?.address,
    headerFromAddress: mail.from?.address,
    headerFromName: mail.from?.name || undefined,
    subject: mail.subject,
    text: mail.textBody || undefined,
    html: mail.htmlBody || undefined,
    attachments:
      mail.attachments.length > 0
        ? mail.attachments.map((attachment) => ({
            content: attachmentBase64(attachment),
            contentType: attachment.contentType,
            filename: attachment.fileName,
            disposition: 'attachment',
          }))
        : undefined,
    headers,
    tags: mail.tags.length > 0 ? mail.tags : undefined,
    data: { ...mail.metadata, [GATEWAY_MESSAGE_ID_METADATA_KEY]: id },
  };
}

function classify(response: UpstreamResponse): DeliveryOutcome {
  const { statusCode, headers } = response;
  if (statusCode >= 200 && statusCode <= 299) return accepted(lastSegment(headers.location));
  const reason = describeResponse(statusCode, errorDetail(response.body));
  switch (statusCode) {
    case 400:
      return permanent(reason);
    case 401:
      return retry(
        `${reason} (a new token was refused too: check FLOWMAILER_CLIENT_ID and FLOWMAILER_CLIENT_SECRET)`,
      );
    case 403:
      return retry(`${reason} (the API client lacks permission: check its roles and FLOWMAILER_ACCOUNT_ID)`);
    case 404:
      return retry(`${reason} (check FLOWMAILER_ACCOUNT_ID and FLOWMAILER_API_URL)`);
    default:
      return outcomeOfStatus(statusCode, reason, headers);
  }
}

function afterPartialSubmission(outcome: DeliveryOutcome, submitted: number, total: number): DeliveryOutcome {
  if (submitted === 0 || outcome.kind === 'accepted') return outcome;
  const reason = `${outcome.reason} (after ${submitted} of ${total} recipients were submitted)`;
  // Retrying resubmits to the recipients that already have their copy.
  return outcome.kind === 'retry' ? { ...outcome, reason, outcomeUnknown: true } : { ...outcome, reason };
}

function lastSegment(location: string | undefined): string | undefined {
  if (!location) return undefined;
  try {
    return new URL(location, 'http://location.invalid').pathname.split('/').filter(Boolean).pop();
  } catch {
    return undefined;
  }
}

/** Every id while they fit the outbox column, then how many were left out. */
function joinIds(ids: readonly string[]): string {
  const all = ids.join(',');
  if (all.length <= MAX_PROVIDER_ID_LENGTH) return all;
  for (let kept = ids.length - 1; kept > 0; kept -= 1) {
    const shortened = `${ids.slice(0, kept).join(',')},+${ids.length - kept} more`;
    if (shortened.length <= MAX_PROVIDER_ID_LENGTH) return shortened;
  }
  return ids[0].slice(0, MAX_PROVIDER_ID_LENGTH);
}

/** Flowmailer's `{"allErrors":[{field, defaultMessage, code}]}`, or an OAuth error on 401. */
function errorDetail(body: string): string | undefined {
  const answer = parseJsonObject(body);
  if (!answer) return undefined;
  if (Array.isArray(answer.allErrors)) {
    const messages = answer.allErrors
      .filter((error): error is Record<string, unknown> => error !== null && typeof error === 'object')
      .map(({ field, defaultMessage, code }) =>
        [
          typeof field === 'string' && field ? `${field}:` : '',
          defaultMessage,
          code ? `(${String(code)})` : '',
        ]
          .filter((part) => typeof part === 'string' && part !== '')
          .join(' '),
      )
      .filter(Boolean);
    if (messages.length > 0) return messages.join('; ');
  }
  if (typeof answer.error === 'string') {
    return typeof answer.error_description === 'string'
      ? `${answer.error}: ${answer.error_description}`
      : answer.error;
  }
  return undefined;
}
