import { InvalidArgumentError } from 'commander';
import { count, MAX_UINT32, seconds } from './options';

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
