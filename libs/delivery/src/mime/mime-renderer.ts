import { GATEWAY_MESSAGE_ID_HEADER, type EmailAddress, type Mail } from '@mailgateway/contracts';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { Address } from 'nodemailer/lib/mailer';

export interface MimeMessage {
  /** The gateway's message id; it becomes the Message-ID's local part. */
  readonly id: string;
  readonly mail: Mail;
}

/**
 * Renders a validated message as RFC 5322 MIME (what an SMTP driver sends), with nodemailer's
 * composer: it encodes and folds every header value, so no field can start a header of its own.
 * Bcc recipients are envelope-only and never written. Attachments are the bytes given; file and
 * URL access of the composer are off, so a field can never make it read a path or fetch a URL.
 */
export class MimeRenderer {
  constructor(private readonly messageIdDomain: string) {}

  render({ id, mail }: MimeMessage): Promise<Buffer> {
    const composer = new MailComposer({
      from: mail.from && mailbox(mail.from),
      to: mail.to.map(mailbox),
      cc: mail.cc.map(mailbox),
      replyTo: mail.replyTo.map(mailbox),
      subject: mail.subject,
      text: mail.textBody || undefined,
      html: mail.htmlBody || undefined,
      // The id again on its own: relays such as SES may replace the Message-ID, and they report
      // the original headers with their feedback.
      headers: [
        ...mail.headers.map(({ name, value }) => ({ key: name, value })),
        { key: GATEWAY_MESSAGE_ID_HEADER, value: id },
      ],
      attachments: mail.attachments.map(({ fileName, contentType, content }) => ({
        filename: fileName,
        contentType,
        content: Buffer.from(content.buffer, content.byteOffset, content.byteLength),
      })),
      messageId: `<${id}@${this.messageIdDomain}>`,
      disableFileAccess: true,
      disableUrlAccess: true,
    });
    return new Promise((resolve, reject) =>
      composer.compile().build((error, message) => (error ? reject(error) : resolve(message))),
    );
  }
}

function mailbox({ address, name }: EmailAddress): Address {
  return { address, name };
}
