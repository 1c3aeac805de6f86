import type { SourceRoutes } from '@mailgateway/auth';
import { loadConfigSlice } from '@mailgateway/config';
import { createGatewayLogger, DeliveryTelemetry, GatewayMetrics, Tracing } from '@mailgateway/observability';
import { ClaimedMessage, OutboxLeases } from '@mailgateway/outbox';
import { aMail, waitFor } from '@mailgateway/testing';
import { deliveryConfig } from './delivery.settings';
import { Dispatcher } from './dispatcher.service';
import type { DeliveryOutcome, MailDriver, OutboundMessage } from './drivers';
import { RetryPolicy } from './retry-policy';
import { DeliveryRoutes } from './routing/delivery-routes';
import { MailDriverSet } from './routing/mail-driver-set';

/** Every source on the default chain. */
const defaultRoutes = { driversFor: async () => null } as unknown as SourceRoutes;

const claimOf = (id: string): ClaimedMessage => ({
  id,
  source: 'billing',
  idempotencyKey: null,
  mail: aMail(),
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
  const claimed: string[] = [];
  const leases = {
    claimDue: async (limit: number) => {
      const claims = due.splice(0, limit);
      claimed.push(...claims.map(({ id }) => id));
      return claims;
    },
    complete: async (claim: ClaimedMessage) => (completed.push(claim.id), true),
    release: async (claim: ClaimedMessage) => (released.push(claim.id), true),
  } as unknown as OutboxLeases;
  return { leases, claimed, released, completed };
}

/** A provider that never answers: a send ends only when the shutdown signal aborts it. */
const hangingDriver: MailDriver = {
  name: 'hanging',
  send: (_message: OutboundMessage, signal: AbortSignal) =>
    new Promise<DeliveryOutcome>((_resolve, reject) =>
      signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }),
    ),
};

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
    const sut = new Dispatcher(leases, routes, new RetryPolicy(config), config, telemetry);
    sut.start();
    await waitFor('both slots to be busy', () => (claimed.length === 2 ? true : undefined));

    // Both slots hold a send that never ends; stop() must not wait for either of them.
    await sut.stop(20);

    expect(released.sort()).toEqual(['a', 'b']);
    expect(completed).toEqual([]);
  });
});
