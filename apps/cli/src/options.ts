import { MessageEventType } from '@mailgateway/client';
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

/** Largest ListEvents page. */
export const MAX_PAGE_SIZE = 1000;

/** Option parser of --page-size: 1 to MAX_PAGE_SIZE events. */
export function pageSize(value: string): number {
  const parsed = wholeNumber(value, MAX_PAGE_SIZE, `a whole number from 1 to ${MAX_PAGE_SIZE}`);
  if (parsed === 0) throw new InvalidArgumentError(`Expected a whole number from 1 to ${MAX_PAGE_SIZE}.`);
  return parsed;
}

const EVENT_TYPE_PREFIX = 'MESSAGE_EVENT_TYPE_';
/** Every event type a filter may name. */
const FILTER_EVENT_TYPES = Object.values(MessageEventType).filter(
  (type) =>
    type !== MessageEventType.MESSAGE_EVENT_TYPE_UNSPECIFIED && type !== MessageEventType.UNRECOGNIZED,
);

/** Parser of a repeatable --type: DELIVERED, delivered or MESSAGE_EVENT_TYPE_DELIVERED. */
export function collectEventType(value: string, previous: MessageEventType[]): MessageEventType[] {
  const name = EVENT_TYPE_PREFIX + value.toUpperCase().replace(/^MESSAGE_EVENT_TYPE_/, '');
  const type = FILTER_EVENT_TYPES.find((each) => each === name);
  if (!type) {
    const names = FILTER_EVENT_TYPES.map((each) => each.replace(EVENT_TYPE_PREFIX, ''));
    throw new InvalidArgumentError(`Expected one of ${names.join(', ')}.`);
  }
  return [...previous, type];
}
