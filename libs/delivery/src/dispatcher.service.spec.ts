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

const claimOf = (id: string, mail = aMail()): ClaimedMessage => ({
  id,
  source: 'billing',
  idempotencyKey: null,
  mail,
  attempt: 1,
  sparedAttempts: 0,
  leaseToken: 1,
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
  const leases = {
    claimDue: async (limit: number) => {
      const claims = due.splice(0, limit);
      claimed.push(...claims.map(({ id }) => id));
      return claims;
    },
    complete: async (claim: ClaimedMessage, outcome: AttemptOutcome) => (
      completed.push(claim.id),
      outcomes.push(outcome),
      true
    ),
    release: async (claim: ClaimedMessage) => (released.push(claim.id), true),
  } as unknown as OutboxLeases;
  return { leases, claimed, released, completed, outcomes };
}

/** A provider that never answers: a send ends only when the shutdown signal aborts it. */
const hangingDriver: MailDriver = {
  name: 'hanging',
  send: (_message: OutboundMessage, signal: AbortSignal) =>
    new Promise<DeliveryOutcome>((_resolve, reject) =>
      signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }),
    ),
};

/** A suppression list holding these entries for every source; `find` throws with `broken`. */
function fakeSuppressions(entries: Suppression[], broken = false) {
  const lookups: string[][] = [];
  const list = {
    find: async (_source: string, addresses: readonly string[]) => {
      lookups.push([...addresses]);
      if (broken) throw new Error('storage is unavailable');
      return new Map(
        entries.filter(({ address }) => addresses.includes(address)).map((entry) => [entry.address, entry]),
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

  it('stops within its drain time while every slot is busy, releasing what did not finish', async () => {
    const { leases, claimed, released, completed } = fakeLeases([claimOf('a'), claimOf('b'), claimOf('c')]);
    const routes = new DeliveryRoutes(new MailDriverSet(hangingDriver, null, []), defaultRoutes, config);
    const sut = new Dispatcher(
      leases,
      routes,
      new RetryPolicy(config),
      config,
      telemetry,
      fakeSuppressions([]).list,
    );
    sut.start();
    await waitFor('both slots to be busy', () => (claimed.length === 2 ? true : undefined));

    // Both slots hold a send that never ends; stop() must not wait for either of them.
    await sut.stop(20);

    expect(released.sort()).toEqual(['a', 'b']);
    expect(completed).toEqual([]);
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

      expect(lookups).toEqual([['ada@example.org', 'bob@example.org', 'carol@example.org']]);
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
