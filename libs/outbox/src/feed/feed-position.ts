/**
 * A place in a source's feed: after the event written by transaction `xid` with `sequence`.
 * Positions order the feed; on SQLite `xid` is always 0 and the sequence alone orders it.
 */
export interface FeedPosition {
  readonly xid: number;
  readonly sequence: number;
}

/** Before every event. */
export const FEED_START: FeedPosition = { xid: 0, sequence: 0 };

export function comparePositions(a: FeedPosition, b: FeedPosition): number {
  return a.xid !== b.xid ? a.xid - b.xid : a.sequence - b.sequence;
}

export function laterPosition(a: FeedPosition, b: FeedPosition): FeedPosition {
  return comparePositions(a, b) >= 0 ? a : b;
}

export function isFeedPosition(value: unknown): value is FeedPosition {
  const position = value as FeedPosition;
  return (
    typeof value === 'object' &&
    value !== null &&
    Number.isSafeInteger(position.xid) &&
    Number.isSafeInteger(position.sequence) &&
    position.xid >= 0 &&
    position.sequence >= 0
  );
}
