// SMTP: RFC 5321 (https://www.rfc-editor.org/rfc/rfc5321), reply codes §4.2 and §4.2.5 (421 may
// come at any time and closes the channel), the transaction §3.3, timeouts §4.5.3.2. Enhanced
// status codes: RFC 3463 (5.1.x: addressing). STARTTLS: RFC 3207; implicit TLS on 465: RFC 8314
// §3.3. AUTH: RFC 4954 §6 (530 5.7.0, 534 5.7.9, 535 5.7.8; 454 4.7.0 temporary). XOAUTH2:
// https://developers.google.com/gmail/imap/xoauth2-protocol and
// https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
import { hostname as machineHostname } from 'node:os';
import { domainToASCII } from 'node:url';
import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import type { Mail } from '@mailgateway/contracts';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import { MimeRenderer } from '../../mime';
import { trustedAuthorities, UpstreamRegistry } from '../../upstream';
import { accepted, outcomeOfUpstreamFailure, permanent, requireSettings, retry } from '../kit';
import type {
  DeliveryOutcome,
  MailDriver,
  OutboundMessage,
  RefusedRecipient,
} from '../mail-driver.interface';
import { SmtpAuthenticationException } from './smtp-authentication.exception';
import { smtpCredentials, SmtpCredentials } from './smtp-credentials';
import { RelayAnswer, SmtpRelayPool } from './smtp-relay-pool';
import type { RelayEnvelope } from './smtp-relay-connection';
import {
  describeReply,
  isAuthenticationReply,
  parseReply,
  queueId,
  retryHintMs,
  SmtpReply,
} from './smtp-reply';
import { SmtpConfig, smtpConfig } from './smtp.settings';

const DEFAULT_PORTS = { 'smtp:': 587, 'smtps:': 465 } as const;

/**
 * An SMTP relay (`SMTP_URL`), through nodemailer's SMTPConnection over pooled keep-alive
 * connections (SmtpRelayPool: every address of the relay, failover, the host's connection cap).
 * The message is rendered by MimeRenderer and sent as raw MIME with an explicit envelope: MAIL
 * FROM the sender, RCPT TO every to, cc and bcc address once, so Bcc is in no header.
 *
 * TLS: STARTTLS is required (SMTP_REQUIRE_TLS) unless the URL is smtps:// (TLS from the first
 * byte); certificates are verified against the relay's hostname whichever address is dialled.
 *
 * Classification, and why:
 * - 250 after the final dot: accepted; the id is the relay's queue id when its reply names one
 *   ("queued as ...", "id=..."), else the Message-ID.
 * - Some RCPT TO refused, the others taken: accepted, with each refused recipient, permanent when
 *   its reply was 5xx (5.1.x: no such mailbox), temporary when 4xx (RFC 5321 §3.3).
 * - Every RCPT TO refused: permanent if every refusal was 5xx, else retry.
 * - 421 (the relay is closing the channel) and any other 4xx: retry, with the wait the reply asks
 *   for in words ("try again in 30 seconds") as retryAfterMs.
 * - Any other 5xx (MAIL FROM, DATA, the final dot): permanent.
 * - AUTH refused (535, 534, 530 or nodemailer's EAUTH): retry without spending an attempt, with a
 *   hint at the settings to check. The gateway's credentials are wrong, not the message.
 * - A message over the relay's SIZE: permanent.
 * - No address took a connection (refused, black-holed, no greeting, 421 at the greeting, TLS
 *   refused), or every connection broke before the end of DATA: retry, certainly not taken.
 * - A timeout or a broken connection after the final dot: retry flagged outcomeUnknown (the relay
 *   may have the message); it is not sent again on another address within the attempt.
 */
@Injectable()
export class SmtpDriver implements MailDriver, OnModuleDestroy {
  readonly name = 'smtp';
  private readonly pool: SmtpRelayPool;
  private readonly credentials: SmtpCredentials;
  /** Waits for the relay host's fleet-wide message rate (UPSTREAM_HOST_BUDGETS), if it has one. */
  private readonly messagePermit: (signal: AbortSignal) => Promise<void>;
  private readonly messageIdDomain?: string;

  constructor(@InjectConfig(smtpConfig) config: SmtpConfig, registry: UpstreamRegistry) {
    const { SMTP_URL } = requireSettings(this.name, { SMTP_URL: config.url });
    this.credentials = smtpCredentials(config, registry);
    const url = new URL(SMTP_URL);
    const protocol = url.protocol as keyof typeof DEFAULT_PORTS;
    // smtp: is not a special scheme to WHATWG URL: its host comes as written.
    const hostname = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const upstream = registry.config;
    const addresses = registry.addresses(hostname, () => this.pool.retireRemovedAddresses());
    this.messagePermit = (signal) => registry.messagePermit(hostname, signal);
    this.pool = new SmtpRelayPool(addresses, registry.connectionSlots(hostname), {
      hostname,
      port: url.port ? Number(url.port) : DEFAULT_PORTS[protocol],
      implicitTls: protocol === 'smtps:',
      requireTls: config.requireTls,
      ca: trustedAuthorities(upstream),
      connectTimeoutMs: config.connectTimeoutMs,
      greetingTimeoutMs: config.greetingTimeoutMs,
      socketTimeoutMs: config.socketTimeoutMs,
      ehloName: config.ehloName,
      auth: this.credentials.auth,
      maxMessagesPerConnection: config.maxMessagesPerConnection,
      idleTimeoutMs: upstream.keepAliveMs,
      maxConnectionAgeMs: upstream.connectionTtlMs,
    });
    this.messageIdDomain = config.messageIdDomain;
  }

  async send({ id, mail }: OutboundMessage, signal: AbortSignal): Promise<DeliveryOutcome> {
    const messageId = `<${id}@${this.messageIdDomain ?? senderDomain(mail)}>`;
    const raw = await new MimeRenderer(this.messageIdDomain ?? senderDomain(mail)).render({ id, mail });
    let answer: RelayAnswer;
    try {
      await this.messagePermit(signal);
      answer = await this.pool.send(envelopeOf(mail, raw), raw, signal);
    } catch (error) {
      if (error instanceof SmtpAuthenticationException) return this.authenticationRefused(error.message);
      return outcomeOfUpstreamFailure(error);
    }
    return answer.kind === 'taken' ? takenOutcome(answer.info, messageId) : this.refusedOutcome(answer.error);
  }

  onModuleDestroy(): void {
    this.pool.close();
  }

  private refusedOutcome(error: SMTPConnection.SMTPError): DeliveryOutcome {
    const reply = parseReply(error.response);
    const command = error.command && error.command !== 'CONN' ? `${error.command}: ` : '';
    if (!reply) {
      // nodemailer refused before asking the relay, e.g. a message over the SIZE the relay announced.
      return permanent(`${command}${error.message}`);
    }
    if (isAuthenticationReply(reply)) return this.authenticationRefused(`${command}${describeReply(reply)}`);
    if (error.command === 'RCPT TO' && error.rejectedErrors?.length) {
      const refusals = error.rejectedErrors.map(refusedRecipient);
      const reason = `every recipient refused: ${refusals.map((refusal) => refusal.reason).join('; ')}`;
      if (refusals.every((refusal) => refusal.permanent)) return permanent(reason);
      const temporary = error.rejectedErrors.map((each) => parseReply(each.response)).find(isTemporary);
      return retry(reason, temporary && retryHintMs(temporary.text));
    }
    const reason = `${command}${describeReply(reply)}`;
    if (reply.code >= 500) return permanent(reason);
    return retry(reason, retryHintMs(reply.text));
  }

  private authenticationRefused(problem: string): DeliveryOutcome {
    return { kind: 'retry', reason: `${problem} (${this.credentials.hint})`, sparesAttempt: true };
  }
}

/** MAIL FROM the sender; RCPT TO every recipient once, Bcc included: the only place Bcc appears. */
function envelopeOf(mail: Mail, raw: Buffer): RelayEnvelope {
  const recipients = new Map<string, string>();
  for (const { address } of [...mail.to, ...mail.cc, ...mail.bcc]) {
    if (!recipients.has(address.toLowerCase())) recipients.set(address.toLowerCase(), address);
  }
  return { from: mail.from?.address ?? '', to: [...recipients.values()], size: raw.length };
}

function takenOutcome(info: SMTPConnection.SentMessageInfo, messageId: string): DeliveryOutcome {
  const reply = parseReply(info.response);
  const outcome = accepted((reply && queueId(reply)) ?? messageId) as Extract<
    DeliveryOutcome,
    { kind: 'accepted' }
  >;
  const refused = (info.rejectedErrors ?? []).map(refusedRecipient);
  return refused.length > 0 ? { ...outcome, refusedRecipients: refused } : outcome;
}

function refusedRecipient(error: SMTPConnection.SMTPError): RefusedRecipient {
  const reply = parseReply(error.response);
  return {
    address: error.recipient ?? '',
    reason: reply ? describeReply(reply) : error.message,
    permanent: reply ? reply.code >= 500 : false,
  };
}

function isTemporary(reply: SmtpReply | undefined): reply is SmtpReply {
  return reply !== undefined && reply.code < 500;
}

/** The sender's domain in ASCII (IDNA), for the Message-ID; the machine's name if it has none. */
function senderDomain(mail: Mail): string {
  const domain = mail.from?.address.split('@').pop() ?? '';
  return domainToASCII(domain) || machineHostname();
}
