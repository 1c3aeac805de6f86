import type { Attachment } from '@mailgateway/contracts';

/** An attachment's bytes as base64, as every JSON mail API takes them. */
export function attachmentBase64({ content }: Pick<Attachment, 'content'>): string {
  return Buffer.from(content.buffer, content.byteOffset, content.byteLength).toString('base64');
}
