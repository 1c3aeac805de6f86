import type { MessageEventType } from '@mailgateway/client';
import { InvalidArgumentError } from 'commander';
import { collectEventType, count, duration, MAX_UINT32, pageSize, parseSendTime, seconds } from './options';

describe('numeric option parsers', () => {
  it.each([
    ['0', 0],
    ['7', 7],
    ['600', 600],
    ['007', 7],
  ])('read %p as %p', (value, expected) => {
    expect(count(value)).toBe(expected);
    expect(seconds(value)).toBe(expected);
  });

  it.each(['', 'abc', '-3', '1.5', '1e3', '0x10', ' 5', '5 ', '+5', 'Infinity', 'NaN'])(
    'refuse %p instead of reading it as a number',
    (value) => {
      expect(() => count(value)).toThrow(InvalidArgumentError);
      expect(() => seconds(value)).toThrow(InvalidArgumentError);
    },
  );

  it('keep counts within a uint32, as the wire would otherwise wrap them', () => {
    expect(count(String(MAX_UINT32))).toBe(MAX_UINT32);
    expect(() => count(String(MAX_UINT32 + 1))).toThrow('Expected a whole number from 0 to 4294967295.');
  });

  it('take seconds up to the largest exact number', () => {
    expect(seconds(String(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => seconds('9007199254740993')).toThrow('Expected a whole number of seconds.');
  });
});

describe('event feed option parsers', () => {
  it('take a page size from 1 to 1000', () => {
    expect(pageSize('1')).toBe(1);
    expect(pageSize('1000')).toBe(1000);
    for (const value of ['0', '1001', '-1', '1.5', '']) {
      expect(() => pageSize(value)).toThrow('Expected a whole number from 1 to 1000.');
    }
  });

  it('take event types by their short or full name, in any case, one per --type', () => {
    let types: MessageEventType[] = [];
    for (const value of ['delivered', 'ATTEMPT_STARTED', 'MESSAGE_EVENT_TYPE_FAILED']) {
      types = collectEventType(value, types);
    }
    expect(types).toEqual([
      'MESSAGE_EVENT_TYPE_DELIVERED',
      'MESSAGE_EVENT_TYPE_ATTEMPT_STARTED',
      'MESSAGE_EVENT_TYPE_FAILED',
    ]);
  });

  it.each(['BOUNCED', 'UNSPECIFIED', 'UNRECOGNIZED', '', 'XMESSAGE_EVENT_TYPE_DELIVERED'])(
    'refuse %p as an event type, listing the known ones',
    (value) => {
      expect(() => collectEventType(value, [])).toThrow(
        'Expected one of ACCEPTED, ATTEMPT_STARTED, DELIVERED, RETRY_SCHEDULED, FAILED, EXPIRED, RELEASED, OUTCOME_UNKNOWN, CANCELLED, RESCHEDULED, CANCEL_REQUESTED, RECIPIENT_REFUSED, RECIPIENT_DELIVERED, RECIPIENT_DEFERRED, RECIPIENT_BOUNCED, RECIPIENT_COMPLAINED, RECIPIENT_UNSUBSCRIBED, RECIPIENT_DROPPED, RECIPIENT_SUPPRESSED, SUPPRESSED.',
      );
    },
  );
});

describe('send time option parser', () => {
  const now = Date.parse('2026-12-01T09:00:00.000Z');
  const read = (value: string) => parseSendTime(value, now).toISOString();

  it.each([
    ['+30s', '2026-12-01T09:00:30.000Z'],
    ['+10m', '2026-12-01T09:10:00.000Z'],
    ['+2h', '2026-12-01T11:00:00.000Z'],
    ['+1d', '2026-12-02T09:00:00.000Z'],
    ['+1h30m', '2026-12-01T10:30:00.000Z'],
    ['+1d12h5m10s', '2026-12-02T21:05:10.000Z'],
    ['+0s', '2026-12-01T09:00:00.000Z'],
    ['+90m', '2026-12-01T10:30:00.000Z'],
  ])('reads the delay %p from now', (value, expected) => {
    expect(read(value)).toBe(expected);
  });

  it.each([
    ['2026-12-24T18:00:00Z', '2026-12-24T18:00:00.000Z'],
    ['2026-12-24T18:00Z', '2026-12-24T18:00:00.000Z'],
    ['2026-12-24T18:00:00.250Z', '2026-12-24T18:00:00.250Z'],
    ['2026-12-24T19:00:00+01:00', '2026-12-24T18:00:00.000Z'],
    ['2026-12-24T12:30-05:30', '2026-12-24T18:00:00.000Z'],
    ['2028-02-29T00:00:00Z', '2028-02-29T00:00:00.000Z'],
    ['2026-12-01T08:00:00Z', '2026-12-01T08:00:00.000Z'],
  ])('reads the ISO 8601 time %p with its zone', (value, expected) => {
    expect(read(value)).toBe(expected);
  });

  it.each([
    ['', 'empty'],
    ['+', 'a delay without an amount'],
    ['10m', 'a delay without "+"'],
    ['-10m', 'a negative delay'],
    ['+10', 'a delay without a unit'],
    ['+1.5h', 'a fractional delay'],
    ['+10m1h', 'units out of order'],
    ['+1w', 'an unknown unit'],
    ['+ 10m', 'a space'],
    ['2026-12-24T18:00:00', 'a time without its zone (the machine would decide)'],
    ['2026-12-24', 'a date without a time'],
    ['2026-02-30T10:00:00Z', 'a day that does not exist'],
    ['2027-02-29T10:00:00Z', 'February 29 of a common year'],
    ['2026-12-24T24:00:00Z', 'hour 24'],
    ['2026-12-24T18:60:00Z', 'minute 60'],
    ['2026-12-24T18:00:00+25:00', 'an offset beyond a day'],
    ['2026-13-01T00:00:00Z', 'month 13'],
    ['1796227200000', 'epoch milliseconds'],
    ['tomorrow', 'words'],
  ])('refuses %p (%s), saying what it takes', (value) => {
    expect(() => parseSendTime(value, now)).toThrow(InvalidArgumentError);
    expect(() => parseSendTime(value, now)).toThrow(
      'Expected an ISO 8601 time with its zone (2026-12-01T09:30:00Z, 2026-12-01T10:30+01:00) or a delay from now (+30s, +10m, +2h, +1d12h).',
    );
  });
});

describe('duration option parser', () => {
  it.each([
    ['90s', 90_000],
    ['10m', 600_000],
    ['12h', 43_200_000],
    ['30d', 2_592_000_000],
    ['1d12h', 129_600_000],
    ['1h30m15s', 5_415_000],
  ])('reads %p as %p ms', (value, expected) => {
    expect(duration(value)).toBe(expected);
  });

  it.each(['', '0s', '0d0h', '10', '-5m', '1.5h', '5m1h', '1w', '+10m', `${'9'.repeat(20)}d`])(
    'refuses %p',
    (value) => {
      expect(() => duration(value)).toThrow(InvalidArgumentError);
    },
  );
});
