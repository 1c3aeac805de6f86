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

/** Option parser of a retention in whole seconds (a proto uint32; 0 is a value of its own). */
export const retentionSeconds = (value: string): number =>
  wholeNumber(value, MAX_UINT32, `a whole number of seconds from 0 to ${MAX_UINT32}`);

/** Largest ListEvents page. */
export const MAX_PAGE_SIZE = 1000;

/** Option parser of --page-size: 1 to MAX_PAGE_SIZE events. */
export function pageSize(value: string): number {
  const parsed = wholeNumber(value, MAX_PAGE_SIZE, `a whole number from 1 to ${MAX_PAGE_SIZE}`);
  if (parsed === 0) throw new InvalidArgumentError(`Expected a whole number from 1 to ${MAX_PAGE_SIZE}.`);
  return parsed;
}

/** Largest RewrapContentKeys batch. */
export const MAX_REWRAP_BATCH = 10_000;

/** Option parser of --batch: 1 to MAX_REWRAP_BATCH messages per call. */
export function rewrapBatch(value: string): number {
  const parsed = wholeNumber(value, MAX_REWRAP_BATCH, `a whole number from 1 to ${MAX_REWRAP_BATCH}`);
  if (parsed === 0) throw new InvalidArgumentError(`Expected a whole number from 1 to ${MAX_REWRAP_BATCH}.`);
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

/** Date and time to the minute or second (group 1), milliseconds, and the zone (groups 2 to 5). */
const ISO_TIME = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(?:\.\d{1,3})?(Z|([+-])(\d{2}):(\d{2}))$/;
/** "+" and days, hours, minutes and seconds, each optional, in that order. */
const DELAY = /^\+(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;
const DELAY_UNIT_MS = [86_400_000, 3_600_000, 60_000, 1_000];

/**
 * A send time: an ISO 8601 date and time with its zone ("Z" or an offset, so it never depends on
 * the zone of the machine), or a delay from `now` ("+10m", "+1h30m", "+1d"). A time that does not
 * exist (2026-02-30T10:00Z, 24:00) is refused, never moved on to another.
 */
export function parseSendTime(value: string, now: number): Date {
  const delay = DELAY.exec(value);
  if (delay && delay.slice(1).some(Boolean)) {
    const ms = delay.slice(1).reduce((sum, part, index) => sum + Number(part ?? 0) * DELAY_UNIT_MS[index], 0);
    if (Number.isSafeInteger(now + ms)) return new Date(now + ms);
  }
  const time = ISO_TIME.exec(value);
  if (time) {
    const [, wallClock, zone, sign, hours, minutes] = time;
    const ms = Date.parse(value);
    const offsetMs =
      zone === 'Z' ? 0 : (sign === '-' ? -1 : 1) * (Number(hours) * 60 + Number(minutes)) * 60_000;
    // Date.parse moves a day or an hour that does not exist on to the next: read the fields back.
    if (Number.isFinite(ms) && new Date(ms + offsetMs).toISOString().startsWith(wallClock))
      return new Date(ms);
  }
  throw new InvalidArgumentError(
    'Expected an ISO 8601 time with its zone (2026-12-01T09:30:00Z, 2026-12-01T10:30+01:00) or a delay from now (+30s, +10m, +2h, +1d12h).',
  );
}

/** Option parser of --at: a send time (see parseSendTime), counted from when the option is read. */
export const sendTime = (value: string): Date => parseSendTime(value, Date.now());

/** Days, hours, minutes and seconds, each optional, in that order: "30d", "1h30m", "90s". */
const DURATION = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** Option parser of a duration such as --expires-in 30d (in milliseconds, more than none). */
export function duration(value: string): number {
  const parts = DURATION.exec(value);
  const ms = parts?.slice(1).some(Boolean)
    ? parts.slice(1).reduce((sum, part, index) => sum + Number(part ?? 0) * DELAY_UNIT_MS[index], 0)
    : NaN;
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new InvalidArgumentError('Expected a duration such as 90s, 10m, 12h, 30d or 1d12h.');
  }
  return ms;
}
