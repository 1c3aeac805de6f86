import { InvalidArgumentError } from 'commander';

/** Parser of a repeatable option: every occurrence is added to the list. */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Largest value of a proto uint32 field (a policy's recipient cap and message limit). */
export const MAX_UINT32 = 0xffff_ffff;

/**
 * A whole number from 0 to `max`, written as decimal digits only: "abc", "-3", "1.5", "1e3",
 * "0x10" and "" are refused (commander then names the option), never read as something else.
 */
function wholeNumber(value: string, max: number, what: string): number {
  const parsed = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(parsed) || parsed > max) throw new InvalidArgumentError(`Expected ${what}.`);
  return parsed;
}

/** Option parser of a count such as --max-recipients or --rate-limit (0: the gateway's default). */
export const count = (value: string): number =>
  wholeNumber(value, MAX_UINT32, `a whole number from 0 to ${MAX_UINT32}`);

/** Option parser of a duration in whole seconds such as --expires-in (0: the default). */
export const seconds = (value: string): number =>
  wholeNumber(value, Number.MAX_SAFE_INTEGER, 'a whole number of seconds');
