import { Writable } from 'node:stream';
import { createGatewayLogger } from './gateway-logger';
import { PinoLoggerService } from './pino-logger.service';
import { scrubSecrets } from './redaction';

describe(createGatewayLogger.name, () => {
  let lines: Record<string, unknown>[];
  let raw: string;
  const capture = () =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        raw += chunk.toString();
        lines.push(
          ...chunk
            .toString()
            .trim()
            .split('\n')
            .map((line) => JSON.parse(line)),
        );
        done();
      },
    });

  beforeEach(() => {
    lines = [];
    raw = '';
  });

  it('writes one JSON line per entry with level, time and context, at the configured level', () => {
    const sut = new PinoLoggerService(createGatewayLogger('warn', capture()));
    sut.log('not written', 'Quiet');
    sut.warn('written', 'Loud');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'warn',
      context: 'Loud',
      msg: 'written',
      service: 'mailgateway',
    });
    expect(typeof lines[0].time).toBe('string');
  });

  it('maps the setting names to pino levels ("verbose" is trace)', () => {
    const sut = new PinoLoggerService(createGatewayLogger('verbose', capture()));
    sut.verbose('fine detail', 'X');
    expect(lines[0]).toMatchObject({ level: 'trace', msg: 'fine detail' });
  });

  it('redacts secret and content keys, one level down too', () => {
    const sut = createGatewayLogger('log', capture());
    sut.info(
      {
        authorization: 'Bearer canary-token',
        request: { mail: { subject: 'canary-subject' } },
        call: { metadata: { authorization: 'canary-2' }, password: 'canary-3', textBody: 'canary-4' },
        subject: 'canary-5',
        attachments: [{ content: 'canary-6' }],
        messageId: 'kept',
      },
      'call',
    );
    expect(raw).not.toMatch(/canary/);
    expect(lines[0]).toMatchObject({ messageId: 'kept', authorization: '[redacted]', subject: '[redacted]' });
  });

  it('redacts the same keys in child bindings and interpolated objects', () => {
    const sut = createGatewayLogger('log', capture());
    sut
      .child({ metadata: { authorization: 'canary-1' }, call: { token: 'canary-2' }, context: 'X' })
      .info('call %o then %j', { password: 'canary-3' }, { call: { textBody: 'canary-4' } });
    expect(raw).not.toMatch(/canary/);
    expect(lines[0]).toMatchObject({ context: 'X', metadata: '[redacted]', call: { token: '[redacted]' } });
  });

  it('scrubs passwords in URLs and bearer tokens from messages, errors and stacks', () => {
    const sut = new PinoLoggerService(createGatewayLogger('log', capture()));
    const error = new Error('connect to postgresql://mail:canary-pw@db:5432/mail failed');
    sut.error(`Start-up failed: ${error.message}`, error.stack, 'Gateway');
    sut.error(error);
    sut.log('sent with Authorization: Bearer canary.token-value', 'X');
    expect(raw).not.toMatch(/canary/);
    expect(lines[0].msg).toBe('Start-up failed: connect to postgresql://mail:[redacted]@db:5432/mail failed');
    expect(lines[2].msg).toBe('sent with Authorization: Bearer [redacted]');
  });

  it('logs an object message as the fields of the line', () => {
    const sut = new PinoLoggerService(createGatewayLogger('log', capture()));
    sut.log({ msg: 'delivery attempt', messageId: 'm-1', attempt: 2 }, 'Delivery');
    expect(lines[0]).toMatchObject({
      msg: 'delivery attempt',
      messageId: 'm-1',
      attempt: 2,
      context: 'Delivery',
    });
  });
});

describe(scrubSecrets.name, () => {
  it('keeps the user name and host of a URL and hides its password', () => {
    expect(scrubSecrets('redis://default:s3cret@redis:6379/0')).toBe(
      'redis://default:[redacted]@redis:6379/0',
    );
    expect(scrubSecrets('http://example.com/path')).toBe('http://example.com/path');
  });
});
