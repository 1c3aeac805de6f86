// Replies as relays write them: RFC 5321 §4.2 (multiline replies §4.2.1), RFC 3463 enhanced codes;
// queue ids as Postfix, Exim, Sendmail and Amazon SES answer the final dot.
import { describeReply, isAuthenticationReply, parseReply, queueId, retryHintMs } from './smtp-reply';

describe(parseReply.name, () => {
  it.each([
    ['250 2.0.0 Ok: queued as 4FX2K6', { code: 250, enhanced: '2.0.0', text: 'Ok: queued as 4FX2K6' }],
    ['550 <a@example.org>: no such user', { code: 550, text: '<a@example.org>: no such user' }],
    [
      '452-4.2.2 The email account that you tried to reach is over quota.\n452 4.2.2 Please direct the recipient to the help page',
      {
        code: 452,
        enhanced: '4.2.2',
        text: 'The email account that you tried to reach is over quota. Please direct the recipient to the help page',
      },
    ],
    ['421', { code: 421, text: '' }],
  ])('reads %j', (response, reply) => {
    expect(parseReply(response)).toEqual(reply);
  });

  it.each([undefined, '', 'Connection closed', '1234 nonsense', '600 out of range'])(
    'reads nothing from %j',
    (response) => {
      expect(parseReply(response)).toBeUndefined();
    },
  );
});

describe(describeReply.name, () => {
  it('keeps one short line', () => {
    const reply = parseReply(`550 5.7.1 ${'spam '.repeat(100)}`)!;
    expect(describeReply(reply)).toMatch(/^550 5\.7\.1 spam spam/);
    expect(describeReply(reply).length).toBeLessThanOrEqual(300);
  });
});

describe(retryHintMs.name, () => {
  it.each([
    ['Greylisted, please try again in 30 seconds', 30_000],
    ['Too many connections, try again in 5 minutes', 300_000],
    ['Mailbox busy, retry in 45 s', 45_000],
    ['Rate limited: retry after 120s', 120_000],
    ['Try again later in 1 hour', 3_600_000],
  ])('reads the wait in %j', (text, ms) => {
    expect(retryHintMs(text)).toBe(ms);
  });

  it.each(['Try again later', 'Server busy. Please try again later', 'Queue 30 seconds behind'])(
    'finds none in %j',
    (text) => {
      expect(retryHintMs(text)).toBeUndefined();
    },
  );
});

describe(queueId.name, () => {
  it.each([
    ['250 2.0.0 Ok: queued as 4FX2K6Hn9z9sS3', '4FX2K6Hn9z9sS3'],
    ['250 OK id=1rXyZa-0004kE-2B', '1rXyZa-0004kE-2B'],
    ['250 2.0.0 x8H1Ma3J012345 Message accepted for delivery', 'x8H1Ma3J012345'],
    [
      '250 Ok 0100018b2a3f4c5d-6e7f8091-a2b3-4c5d-9e0f-1a2b3c4d5e6f-000000',
      '0100018b2a3f4c5d-6e7f8091-a2b3-4c5d-9e0f-1a2b3c4d5e6f-000000',
    ],
    ['250 2.6.0 Ok: queued as <ABC123>.', 'ABC123'],
  ])('finds the id in %j', (response, id) => {
    expect(queueId(parseReply(response)!)).toBe(id);
  });

  it.each(['250 OK', '250 2.0.0 OK: message queued', '250 Ok short'])('finds none in %j', (response) => {
    expect(queueId(parseReply(response)!)).toBeUndefined();
  });
});

describe(isAuthenticationReply.name, () => {
  it.each([
    ['535 5.7.8 Authentication credentials invalid', true],
    ['534 5.7.9 Authentication mechanism is too weak', true],
    ['530 5.7.0 Authentication required', true],
    ['454 4.7.0 Temporary authentication failure', false],
    ['550 5.7.1 Relaying denied', false],
  ])('%j: %s', (response, expected) => {
    expect(isAuthenticationReply(parseReply(response)!)).toBe(expected);
  });
});
