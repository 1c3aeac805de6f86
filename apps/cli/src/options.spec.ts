import type { MessageEventType } from '@mailgateway/client';
import { InvalidArgumentError } from 'commander';
import { collectEventType, count, MAX_UINT32, pageSize, seconds } from './options';

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
        'Expected one of ACCEPTED, ATTEMPT_STARTED, DELIVERED, RETRY_SCHEDULED, FAILED, EXPIRED, RELEASED, OUTCOME_UNKNOWN.',
      );
    },
  );
});
