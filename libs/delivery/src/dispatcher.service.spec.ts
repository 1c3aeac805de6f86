import type { SourceRoutes } from '@mailgateway/auth';
import { loadConfigSlice } from '@mailgateway/config';
import { createGatewayLogger, DeliveryTelemetry, GatewayMetrics, Tracing } from '@mailgateway/observability';
import { AttemptOutcome, ClaimedMessage, MessageStatus, OutboxLeases } from '@mailgateway/outbox';
import { Suppression, SuppressionList, SuppressionReason } from '@mailgateway/suppression';
import { aMail, waitFor } from '@mailgateway/testing';
import { deliveryConfig } from './delivery.settings';
import { Dispatcher } from './dispatcher.service';
import type { DeliveryOutcome, MailDriver, OutboundMessage } from './drivers';
import { RetryPolicy } from './retry-policy';
import { DeliveryRoutes } from './routing/delivery-routes';
import { MailDriverSet } from './routing/mail-driver-set';

/** Every source on the default chain. */
const defaultRoutes = { driversFor: async () => null } as unknown as SourceRoutes;

const claimOf = (id: string, mail = aMail(), leasedUntil = Date.now() + 60_000): ClaimedMessage => ({
  id,
  source: 'billing',
  idempotencyKey: null,
  mail,
  attempt: 1,
  sparedAttempts: 0,
  leaseToken: 1,
  leasedUntil,
  acceptedAt: Date.now(),
  expiresAt: Date.now() + 60_000,
  traceparent: null,
});

/** An outbox with `due` messages to hand out, recording releases and outcomes. */
function fakeLeases(due: ClaimedMessage[]) {
  const released: string[] = [];
  const completed: string[] = [];
  const outcomes: AttemptOutcome[] = [];
  const claimed: string[] = [];
  /** The limit of each claim. */
  const asked: number[] = [];
  /** How many each claim returned. */
  const returned: number[] = [];
  const handedBack: string[] = [];
  const leases = {
    claimDue: async (limit: number) => {
      asked.push(limit);
      const claims = due.splice(0, limit);
      returned.push(claims.length);
      claimed.push(...claims.map(({ id }) => id));
      return claims;
    },
    releaseUnstarted: async (claims: ClaimedMessage[]) => (
      handedBack.push(...claims.map(({ id }) => id)),
      claims.map(() => true)
    ),
    complete: async (claim: ClaimedMessage, outcome: AttemptOutcome) => (
      completed.push(claim.id),
      outcomes.push(outcome),
      true
    ),
    release: async (claim: ClaimedMessage) => (released.push(claim.id), true),
  } as unknown as OutboxLeases;
  return { leases, claimed, asked, returned, released, handedBack, completed, outcomes };
}

/** A provider that never answers: a send ends only when the shutdown signal aborts it. */
const hangingDriver: MailDriver = {
  name: 'hanging',
  send: (_message: OutboundMessage, signal: AbortSignal) =>
    new Promise<DeliveryOutcome>((_resolve, reject) =>
      signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }),
    ),
};

/** A suppression list holding these entries for every source; `findEach` throws with `broken`. */
function fakeSuppressions(entries: Suppression[], broken = false) {
  /** Per lookup statement, the addresses of each message asked about. */
  const lookups: string[][][] = [];
  const list = {
    findEach: async (asked: readonly { source: string; addresses: readonly string[] }[]) => {
      lookups.push(asked.map(({ addresses }) => [...addresses]));
      if (broken) throw new Error('storage is unavailable');
      return asked.map(
        ({ addresses }) =>
          new Map(
            entries
              .filter(({ address }) => addresses.includes(address))
              .map((entry) => [entry.address, entry]),
          ),
      );
    },
  } as unknown as SuppressionList;
  return { list, lookups };
}

const suppressionOf = (address: string, reason = SuppressionReason.Complaint): Suppression => ({
  address,
  scope: '*',
  reason,
  origin: 'test',
  createdAt: 0,
  expiresAt: null,
});

/** A provider that accepts everything and keeps what it was given. */
function recordingDriver() {
  const sent: OutboundMessage[] = [];
  const driver: MailDriver = {
    name: 'recording',
    send: async (message: OutboundMessage) => (
      sent.push(message),
      { kind: 'accepted', providerMessageId: 'p-1' }
    ),
  };
  return { driver, sent };
}

describe(Dispatcher.name, () => {
  const config = loadConfigSlice(deliveryConfig, {
    DELIVERY_CONCURRENCY: '2',
    DELIVERY_CLAIM_BATCH: '8',
    DELIVERY_POLL_INTERVAL_MS: '10',
  });
  const telemetry = new DeliveryTelemetry(
    new GatewayMetrics(),
    new Tracing({
      enabled: false,
      serviceName: 'mailgateway',
      serviceVersion: 'test',
      protocol: 'http/json',
    }),
    createGatewayLogger('fatal'),
  );

  const dispatcher = (leases: OutboxLeases, driver: MailDriver, suppressions = fakeSuppressions([]).list) =>
    new Dispatcher(
      leases,
      new DeliveryRoutes(new MailDriverSet(driver, null, []), defaultRoutes, config),
      new RetryPolicy(config),
      config,
      telemetry,
      suppressions,
    );

  it('on stop, hands back the claims not started at once, and what is in flight once its drain time is up', async () => {
    const { leases, claimed, released, handedBack, completed } = fakeLeases(
      ['a', 'b', 'c'].map((id) => claimOf(id)),
    );
    const sut = dispatcher(leases, hangingDriver);
    sut.start();
    // Both slots hold a send that never ends; the third claim waits for one.
    await waitFor('every message to be claimed', () => (claimed.length === 3 ? true : undefined));

    const stopped = sut.stop(100);
    await waitFor('the unstarted claim to be handed back', () => (handedBack.length > 0 ? true : undefined));
    expect(released).toEqual([]);
    await stopped;

    expect(handedBack).toEqual(['c']);
    expect(released.sort()).toEqual(['a', 'b']);
    expect(completed).toEqual([]);
  });

  it('claims ahead of its free slots, up to DELIVERY_CLAIM_BATCH, reading the suppression list once per claim', async () => {
    const due = Array.from({ length: 40 }, (_, index) => claimOf(`m${index}`));
    const { leases, asked, returned, completed, handedBack } = fakeLeases(due);
    const { driver, sent } = recordingDriver();
    const suppressions = fakeSuppressions([]);
    const sut = dispatcher(leases, driver, suppressions.list);
    sut.start();
    await waitFor('every message to be recorded', () => (completed.length === 40 ? true : undefined));
    await sut.stop(0);

    expect(new Set(sent.map(({ id }) => id)).size).toBe(40);
    expect(sent).toHaveLength(40);
    expect(handedBack).toEqual([]);
    // The first claim takes one round of slots; once deliveries are under way, claims go ahead.
    expect(asked[0]).toBe(config.concurrency);
    expect(Math.max(...asked)).toBeGreaterThan(config.concurrency);
    expect(Math.max(...asked)).toBeLessThanOrEqual(config.claimBatch);
    // One lookup per claim that took messages, asking about each of them.
    expect(suppressions.lookups.map((lookup) => lookup.length)).toEqual(
      returned.filter((count) => count > 0),
    );
    expect(suppressions.lookups.length).toBeLessThan(40);
  });

  it('never sends a claim whose lease is half gone before a slot frees: it is handed back', async () => {
    const { leases, completed, handedBack } = fakeLeases([
      claimOf('fresh'),
      claimOf('late', aMail(), Date.now() + config.leaseMs / 2 - 1_000),
    ]);
    const { driver, sent } = recordingDriver();
    const sut = dispatcher(leases, driver);
    sut.start();
    await waitFor('the late claim to be handed back', () => (handedBack.length === 1 ? true : undefined));
    await waitFor('the fresh one to be recorded', () => (completed.length === 1 ? true : undefined));
    await sut.stop(0);

    expect(handedBack).toEqual(['late']);
    expect(sent.map(({ id }) => id)).toEqual(['fresh']);
    expect(completed).toEqual(['fresh']);
  });

  it('starts none of the claims waiting for a slot once the outbox fails: they are handed back unsent', async () => {
    const fake = fakeLeases(Array.from({ length: 8 }, (_, index) => claimOf(`m${index}`)));
    let outage = false;
    const leases = {
      ...fake.leases,
      claimDue: async (limit: number) => {
        if (outage) throw new Error('storage is unavailable');
        return (fake.leases.claimDue as (limit: number) => Promise<ClaimedMessage[]>)(limit);
      },
      complete: async () => {
        throw new Error('storage is unavailable');
      },
    } as unknown as OutboxLeases;
    // The provider holds both sends until claims wait behind them; then the outbox goes away.
    let answer = () => {};
    const answered = new Promise<void>((resolve) => (answer = resolve));
    const sent: string[] = [];
    const heldDriver: MailDriver = {
      name: 'held',
      send: async (message: OutboundMessage) => {
        sent.push(message.id);
        await answered;
        return { kind: 'accepted', providerMessageId: `p-${message.id}` };
      },
    };
    const sut = dispatcher(leases, heldDriver);
    sut.start();
    await waitFor('claims to wait behind the two sends', () => (fake.claimed.length > 2 ? true : undefined));
    const waiting = fake.claimed.slice(2);
    outage = true;
    answer();
    await waitFor('the waiting claims to be handed back', () =>
      fake.handedBack.length === waiting.length ? true : undefined,
    );
    await sut.stop(0);

    // Only what was under way when the outbox failed went out; what waited went back unsent.
    expect(sent).toEqual(['m0', 'm1']);
    expect(fake.handedBack).toEqual(waiting);
    expect(fake.completed).toEqual([]);
  });

  describe('at claim, with the suppression list', () => {
    const mail = aMail({
      to: [
        { address: 'Ada@example.org', name: 'Ada' },
        { address: 'bob@example.org', name: 'Bob' },
      ],
      bcc: [{ address: 'carol@example.org', name: '' }],
    });
    const run = async (entries: Suppression[], broken = false) => {
      const { leases, outcomes } = fakeLeases([claimOf('m', mail)]);
      const { driver, sent } = recordingDriver();
      const routes = new DeliveryRoutes(new MailDriverSet(driver, null, []), defaultRoutes, config);
      const metrics = new GatewayMetrics();
      const suppressions = fakeSuppressions(entries, broken);
      const sut = new Dispatcher(
        leases,
        routes,
        new RetryPolicy(config),
        config,
        telemetry,
        suppressions.list,
        metrics,
      );
      sut.start();
      await waitFor('the outcome', () => (outcomes.length === 1 ? true : undefined));
      await sut.stop(0);
      const counted = await metrics.suppressedRecipients.get();
      return { outcome: outcomes[0], sent, lookups: suppressions.lookups, counted: counted.values };
    };

    it('sends without the suppressed recipients and reports them with the outcome', async () => {
      const { outcome, sent, lookups, counted } = await run([suppressionOf('ada@example.org')]);

      expect(lookups).toEqual([[['ada@example.org', 'bob@example.org', 'carol@example.org']]]);
      expect(sent.map(({ mail }) => [mail.to, mail.bcc])).toEqual([
        [[{ address: 'bob@example.org', name: 'Bob' }], [{ address: 'carol@example.org', name: '' }]],
      ]);
      expect(outcome).toMatchObject({
        status: MessageStatus.Delivered,
        suppressedRecipients: [{ address: 'ada@example.org', reason: 'complaint', scope: '*' }],
      });
      expect(counted).toEqual([{ labels: { source: 'billing', stage: 'claim' }, value: 1 }]);
    });

    it('ends the message SUPPRESSED without calling the driver when no recipient is left', async () => {
      const { outcome, sent } = await run(
        ['ada@example.org', 'bob@example.org', 'carol@example.org'].map((address) =>
          suppressionOf(address, SuppressionReason.HardBounce),
        ),
      );

      expect(sent).toEqual([]);
      expect(outcome.status).toBe(MessageStatus.Suppressed);
      expect(outcome.suppressedRecipients?.map(({ address }) => address)).toEqual([
        'ada@example.org',
        'bob@example.org',
        'carol@example.org',
      ]);
    });

    it('sends nothing and retries later, not counting the attempt, when the list cannot be read', async () => {
      const { outcome, sent } = await run([], true);

      expect(sent).toEqual([]);
      expect(outcome).toMatchObject({ status: MessageStatus.Retrying, sparesAttempt: true });
    });
  });
});
