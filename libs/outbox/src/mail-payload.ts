import { createHash, type Hash, type Hmac } from 'node:crypto';
import type { EmailAddress, Mail } from '@mailgateway/contracts';

interface StoredAttachment {
  fileName: string;
  contentType: string;
  contentBase64: string;
}

type StoredMail = Omit<Mail, 'attachments'> & { attachments: StoredAttachment[] };

export function serializeMail(mail: Mail): string {
  const stored: StoredMail = {
    ...mail,
    attachments: mail.attachments.map(({ fileName, contentType, content }) => ({
      fileName,
      contentType,
      contentBase64: Buffer.from(content.buffer, content.byteOffset, content.byteLength).toString('base64'),
    })),
  };
  return JSON.stringify(stored);
}

export function deserializeMail(payload: string): Mail {
  const stored = JSON.parse(payload) as StoredMail;
  return {
    ...stored,
    attachments: stored.attachments.map(({ fileName, contentType, contentBase64 }) => ({
      fileName,
      contentType,
      content: Buffer.from(contentBase64, 'base64'),
    })),
  };
}

/** The envelope recipients kept beside the sealed content: to, cc, bcc, lowercased, repeats kept. */
export function mailRecipients(mail: Pick<Mail, 'to' | 'cc' | 'bcc'>): string[] {
  return [...(mail.to ?? []), ...(mail.cc ?? []), ...(mail.bcc ?? [])].map(({ address }) =>
    address.toLowerCase(),
  );
}

/** The From address kept beside the sealed content, lowercased; null when the mail names none. */
export function mailSender(mail: Pick<Mail, 'from'>): string | null {
  return mail.from?.address ? mail.from.address.toLowerCase() : null;
}

/**
 * A digest of everything the caller sent, to tell a replay (same key, same content) from a
 * conflict (same key, other content). Metadata is a map, so its order on the wire does not count.
 * `hash` is the digest to feed: a keyed one (ContentFingerprinter) for what is stored; the
 * unkeyed sha256 default is the form stored before fingerprints were keyed.
 */
export function mailFingerprint(mail: Mail, hash: Hash | Hmac = createHash('sha256')): string {
  const addresses = (list: EmailAddress[]) => list.map(({ address, name }) => [address, name]);
  const canonical = [
    mail.from ? [mail.from.address, mail.from.name] : null,
    addresses(mail.to),
    addresses(mail.cc),
    addresses(mail.bcc),
    addresses(mail.replyTo),
    mail.subject,
    mail.textBody,
    mail.htmlBody,
    mail.headers.map(({ name, value }) => [name, value]),
    mail.tags,
    Object.entries(mail.metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    mail.attachments.map(({ fileName, contentType, content }) => [fileName, contentType, content.byteLength]),
  ];
  hash.update(JSON.stringify(canonical));
  for (const { content } of mail.attachments) hash.update(content);
  return hash.digest('hex');
}
