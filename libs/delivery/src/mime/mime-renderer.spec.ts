import { simpleParser } from 'mailparser';
import { aMail } from '@mailgateway/testing';
import { MimeRenderer } from './mime-renderer';

describe(MimeRenderer.name, () => {
  const sut = new MimeRenderer('gateway.example');

  it('renders every field, keeps Bcc off the message, and parses back to the same values', async () => {
    const mail = aMail({
      to: [{ address: 'ada@example.org', name: 'Lovelace, Ada' }],
      cc: [{ address: 'cc@example.org', name: '' }],
      bcc: [{ address: 'hidden@example.org', name: 'Hidden' }],
      replyTo: [{ address: 'reply@example.com', name: 'Replies' }],
      subject: 'Ünïcödé invoice: Bcc: not a header',
      htmlBody: '<p>Hello</p>',
      headers: [{ name: 'X-Campaign', value: 'spring "sale"' }],
      attachments: [
        { fileName: 'invoice.pdf', contentType: 'application/pdf', content: Buffer.from('%PDF-1.7') },
      ],
    });

    const rendered = await sut.render({ id: '0b0e4c47-7c55-4b8e-9f69-0a4f1f6b2c11', mail });
    const parsed = await simpleParser(rendered);

    expect(rendered.toString()).not.toMatch(/^bcc:/im);
    expect(parsed.headers.has('bcc')).toBe(false);
    expect(parsed.subject).toBe(mail.subject);
    expect(parsed.messageId).toBe('<0b0e4c47-7c55-4b8e-9f69-0a4f1f6b2c11@gateway.example>');
    expect(parsed.from?.value).toEqual([{ address: 'billing@example.com', name: 'Billing' }]);
    expect(addresses(parsed.to)).toEqual([{ address: 'ada@example.org', name: 'Lovelace, Ada' }]);
    expect(addresses(parsed.cc)).toEqual([{ address: 'cc@example.org', name: '' }]);
    expect(addresses(parsed.replyTo)).toEqual([{ address: 'reply@example.com', name: 'Replies' }]);
    // Custom header values come back MIME-encoded (mailparser decodes only the headers it knows).
    expect(parsed.headers.get('x-campaign')).toBe('=?UTF-8?Q?spring_=22sale=22?=');
    expect(parsed.text?.trim()).toBe(mail.textBody);
    expect(parsed.attachments.map(({ filename, content }) => [filename, content.toString()])).toEqual([
      ['invoice.pdf', '%PDF-1.7'],
    ]);
  });

  it("writes the gateway's message id in X-Mailgateway-Message-Id too, once", async () => {
    const rendered = await sut.render({ id: '0b0e4c47-7c55-4b8e-9f69-0a4f1f6b2c11', mail: aMail() });
    const parsed = await simpleParser(rendered);

    expect(parsed.headers.get('x-mailgateway-message-id')).toBe('0b0e4c47-7c55-4b8e-9f69-0a4f1f6b2c11');
    expect(rendered.toString().match(/^x-mailgateway-message-id:/gim)).toHaveLength(1);
  });

  it('keeps a header value that names another header inside that header', async () => {
    const mail = aMail({ headers: [{ name: 'X-Note', value: 'Bcc: attacker@example.net' }] });

    const parsed = await simpleParser(await sut.render({ id: 'id', mail }));

    expect(parsed.headers.has('bcc')).toBe(false);
    expect(parsed.headers.get('x-note')).toBe('Bcc: attacker@example.net');
  });
});

function addresses(field: unknown) {
  const list = Array.isArray(field) ? field : [field];
  return list.flatMap((entry: { value: { address?: string; name: string }[] }) =>
    entry.value.map(({ address, name }) => ({ address, name })),
  );
}
