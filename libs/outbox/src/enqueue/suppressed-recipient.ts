import type { EmailAddress, Mail } from '@mailgateway/contracts';

/** A recipient left out of a message because it is on the suppression list. */
export interface SuppressedRecipient {
  /** Lowercased. */
  readonly address: string;
  /** The suppression's reason, e.g. "complaint". */
  readonly reason: string;
  /** The suppression's scope: "*" or the source. */
  readonly scope: string;
}

/** The detail of a RECIPIENT_SUPPRESSED event. */
export function suppressedRecipientDetail({ reason, scope }: SuppressedRecipient): string {
  return `suppressed (${reason}, scope ${scope})`;
}

/** Every recipient of the mail (to, cc, bcc), lowercased, each once: what the suppression list is asked about. */
export function recipientAddresses(mail: Mail): string[] {
  return [...new Set([...mail.to, ...mail.cc, ...mail.bcc].map(({ address }) => address.toLowerCase()))];
}

/** The mail without the given recipients (lowercased addresses), wherever they appear. */
export function withoutRecipients(mail: Mail, left: ReadonlySet<string>): Mail {
  const keep = (list: EmailAddress[]) => list.filter(({ address }) => !left.has(address.toLowerCase()));
  return { ...mail, to: keep(mail.to), cc: keep(mail.cc), bcc: keep(mail.bcc) };
}

export function recipientCount(mail: Mail): number {
  return mail.to.length + mail.cc.length + mail.bcc.length;
}
