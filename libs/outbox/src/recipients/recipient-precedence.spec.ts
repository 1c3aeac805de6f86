import { MessageEventType } from '../message-status';
import { RecordedRecipientState, toRecipientEvent } from './recipient-events';
import { foldRecipientStates, RecipientEventRow, supersedes } from './recipient-precedence';
import { RecipientState } from './recipient-state';

const {
  Delivered,
  Deferred,
  BouncedHard,
  BouncedSoft,
  BouncedUndetermined,
  Complained,
  Unsubscribed,
  Dropped,
  Suppressed,
  Refused,
} = RecipientState;

describe(supersedes.name, () => {
  // [where the recipient stands, at, the update, at, whether it moves the recipient]
  it.each<[RecipientState | null, number, RecipientState, number, boolean]>([
    // any state beats none
    [null, 0, Deferred, 100, true],
    [null, 0, Complained, 100, true],
    // a duplicate changes nothing
    [Delivered, 100, Delivered, 100, false],
    [Complained, 100, Complained, 200, false],
    // among the non-sticky states the later one wins
    [BouncedSoft, 100, Delivered, 200, true],
    [Deferred, 100, Delivered, 200, true],
    [Delivered, 100, BouncedSoft, 200, true],
    [Delivered, 100, BouncedUndetermined, 200, true],
    [Deferred, 100, BouncedSoft, 200, true],
    // a deferral older than the delivery changes nothing
    [Delivered, 200, Deferred, 100, false],
    [BouncedSoft, 200, Delivered, 100, false],
    // at the same instant an outcome beats "still trying", and never the reverse
    [Deferred, 100, Delivered, 100, true],
    [Deferred, 100, BouncedSoft, 100, true],
    [Delivered, 100, Deferred, 100, false],
    [Delivered, 100, BouncedSoft, 100, false],
    // a sticky state beats any non-sticky one, whatever the times
    [Delivered, 200, Complained, 100, true],
    [Deferred, 100, BouncedHard, 200, true],
    [BouncedSoft, 300, Unsubscribed, 100, true],
    [Delivered, 100, Refused, 100, true],
    // a late "delivered" after a complaint changes nothing; nor does anything non-sticky
    [Complained, 100, Delivered, 200, false],
    [BouncedHard, 100, Delivered, 200, false],
    [Suppressed, 100, Deferred, 200, false],
    [Refused, 100, BouncedSoft, 200, false],
    [Dropped, 100, BouncedUndetermined, 200, false],
    // a sticky state replaces another only when stronger: complained > unsubscribed > bounced hard
    // > dropped = suppressed = refused
    [BouncedHard, 200, Complained, 100, true],
    [Unsubscribed, 100, Complained, 200, true],
    [BouncedHard, 100, Unsubscribed, 200, true],
    [Dropped, 100, BouncedHard, 200, true],
    [Complained, 100, Unsubscribed, 200, false],
    [Complained, 100, BouncedHard, 200, false],
    [Unsubscribed, 100, BouncedHard, 200, false],
    [BouncedHard, 100, Dropped, 200, false],
    [Dropped, 100, Suppressed, 200, false],
    [Suppressed, 100, Refused, 200, false],
    [Refused, 100, Dropped, 200, false],
  ])('from %s (at %d), %s at %d moves it: %s', (current, at, state, occurredAt, moves) => {
    const standing = current === null ? undefined : { state: current, updatedAt: at };
    expect(supersedes(standing, { state, occurredAt })).toBe(moves);
  });
});

describe(foldRecipientStates.name, () => {
  function event(
    recipient: string | null,
    state: RecordedRecipientState,
    occurredAt: number,
    detail = '',
  ): RecipientEventRow {
    return { ...toRecipientEvent(state, detail), occurredAt, provider: 'postmark', recipient };
  }

  it('gives each recipient the state its events leave, keyed by lowercased address', () => {
    const outcomes = foldRecipientStates([
      event('Ann@Example.com', Deferred, 100, '421 try later'),
      event('bob@example.com', BouncedHard, 150, '550 5.1.1 no such user'),
      event('ann@example.com', Delivered, 200, '250 ok'),
      event('bob@example.com', Delivered, 300, 'late'),
    ]);

    expect(Object.fromEntries(outcomes)).toEqual({
      'ann@example.com': { state: Delivered, detail: '250 ok', updatedAt: 200, provider: 'postmark' },
      'bob@example.com': {
        state: BouncedHard,
        detail: '550 5.1.1 no such user',
        updatedAt: 150,
        provider: 'postmark',
      },
    });
  });

  it('reads the bounce class back from the event detail, and a bounce without one as undetermined', () => {
    const outcomes = foldRecipientStates([
      event('a@example.com', BouncedHard, 1, 'gone'),
      event('b@example.com', BouncedSoft, 1, 'full'),
      event('c@example.com', BouncedUndetermined, 1, '5.7.1 spam'),
      {
        type: MessageEventType.RecipientBounced,
        detail: 'bare',
        occurredAt: 1,
        provider: null,
        recipient: 'd@example.com',
      },
    ]);

    expect([...outcomes].map(([address, { state, detail }]) => [address, state, detail])).toEqual([
      ['a@example.com', BouncedHard, 'gone'],
      ['b@example.com', BouncedSoft, 'full'],
      ['c@example.com', BouncedUndetermined, '5.7.1 spam'],
      ['d@example.com', BouncedUndetermined, 'bare'],
    ]);
  });

  it('counts a relay refusal as refused and skips events about the whole message', () => {
    const outcomes = foldRecipientStates([
      { type: MessageEventType.Delivered, detail: 'ok', occurredAt: 1, provider: 'smtp', recipient: null },
      {
        type: MessageEventType.RecipientRefused,
        detail: '550 no',
        occurredAt: 1,
        provider: 'smtp',
        recipient: 'x@example.com',
      },
      event('x@example.com', Delivered, 2),
    ]);

    expect(Object.fromEntries(outcomes)).toEqual({
      'x@example.com': { state: Refused, detail: '550 no', updatedAt: 1, provider: 'smtp' },
    });
  });
});
