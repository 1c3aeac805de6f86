import { aMail } from '@mailgateway/testing';
import { deserializeMail, mailFingerprint, serializeMail } from './mail-payload';

describe('mail payload', () => {
  const attachment = {
    fileName: 'a.bin',
    contentType: 'application/octet-stream',
    content: Buffer.from([0, 255, 7]),
  };

  it('round-trips a message, attachment bytes included', () => {
    const mail = aMail({ attachments: [attachment], metadata: { a: '1' }, subject: 'Grüße' });
    const restored = deserializeMail(serializeMail(mail));
    expect(restored).toEqual({
      ...mail,
      attachments: [{ ...attachment, content: Buffer.from([0, 255, 7]) }],
    });
  });

  it('fingerprints equal content equally, whatever the metadata order', () => {
    expect(mailFingerprint(aMail({ metadata: { a: '1', b: '2' } }))).toBe(
      mailFingerprint(aMail({ metadata: { b: '2', a: '1' } })),
    );
  });

  it.each([
    ['subject', { subject: 'Other' }],
    ['a recipient name', { to: [{ address: 'ada@example.org', name: 'Ada' }] }],
    ['attachment bytes', { attachments: [{ ...attachment, content: Buffer.from([0, 255, 8]) }] }],
    ['a metadata value', { metadata: { a: '2' } }],
    ['the body moved from text to html', { textBody: '', htmlBody: 'Hello Ada, your invoice is attached.' }],
  ])('tells content apart when %s differs', (_what, overrides) => {
    const base = aMail({ attachments: [attachment], metadata: { a: '1' } });
    expect(mailFingerprint({ ...base, ...overrides })).not.toBe(mailFingerprint(base));
  });
});
