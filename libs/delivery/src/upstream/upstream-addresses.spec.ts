import { loadConfigSlice } from '@mailgateway/config';
import { GatewayMetrics } from '@mailgateway/observability';
import { sampleValue, StaticHostResolver, waitFor } from '@mailgateway/testing';
import { UpstreamAddresses } from './upstream-addresses';
import { UpstreamUnavailableException } from './upstream-unavailable.exception';
import { upstreamConfig } from './upstream.settings';

describe(UpstreamAddresses.name, () => {
  const hostname = 'relay.example.com';
  let resolver: StaticHostResolver;
  let sut: UpstreamAddresses | undefined;

  const addressesOf = (
    env: Record<string, string> = {},
    onRemoved?: (removed: readonly string[]) => void,
  ) => {
    const config = loadConfigSlice(upstreamConfig, { UPSTREAM_DNS_REFRESH_MS: '1000', ...env });
    sut = new UpstreamAddresses(hostname, config, resolver, new GatewayMetrics(), onRemoved);
    return sut;
  };
  const picks = (addresses: UpstreamAddresses, count: number) =>
    Array.from({ length: count }, () => addresses.pick(new Set()));

  beforeEach(() => {
    resolver = new StaticHostResolver().set(hostname, ['192.0.2.10', '192.0.2.11']);
  });

  afterEach(() => sut?.close());

  it('resolves every address once and takes them in turn', async () => {
    const addresses = addressesOf();
    await Promise.all([addresses.ensureResolved(), addresses.ensureResolved()]);

    expect(resolver.lookups).toBe(1);
    expect(picks(addresses, 3)).toEqual(['192.0.2.10', '192.0.2.11', '192.0.2.10']);
  });

  it('uses UPSTREAM_ADDRESSES instead of DNS', async () => {
    const addresses = addressesOf({ UPSTREAM_ADDRESSES: `${hostname}=198.51.100.7` });
    await addresses.ensureResolved();

    expect(resolver.lookups).toBe(0);
    expect(picks(addresses, 2)).toEqual(['198.51.100.7', '198.51.100.7']);
  });

  it('never connects to loopback, link-local or metadata answers unless allowed', async () => {
    resolver.set(hostname, ['127.0.0.1', '169.254.169.254', '192.0.2.10']);
    const addresses = addressesOf();
    await addresses.ensureResolved();
    expect(addresses.size).toBe(1);

    resolver.set(hostname, ['127.0.0.1']);
    const onlyLocal = addressesOf();
    await expect(onlyLocal.ensureResolved()).rejects.toThrow(
      new UpstreamUnavailableException(
        `${hostname}: cannot resolve (resolves only to loopback, link-local or metadata addresses, which are refused)`,
      ),
    );
  });

  it('resolves again after a failed first lookup', async () => {
    resolver = new StaticHostResolver();
    const addresses = addressesOf();
    await expect(addresses.ensureResolved()).rejects.toBeInstanceOf(UpstreamUnavailableException);

    resolver.set(hostname, ['192.0.2.10']);
    await addresses.ensureResolved();
    expect(addresses.pick(new Set())).toBe('192.0.2.10');
  });

  it('follows DNS and tells which addresses left', async () => {
    const removed: (readonly string[])[] = [];
    const addresses = addressesOf({}, (gone) => void removed.push(gone));
    await addresses.ensureResolved();

    resolver.set(hostname, ['192.0.2.11', '192.0.2.12']);
    await waitFor('the refresh', () => (removed.length > 0 ? true : undefined), { timeoutMs: 5_000 });

    expect(removed).toEqual([['192.0.2.10']]);
    expect(addresses.has('192.0.2.10')).toBe(false);
    expect(addresses.has('192.0.2.12')).toBe(true);
  });

  it('cools a failing address down and reports its health as metrics', async () => {
    const metrics = new GatewayMetrics();
    const config = loadConfigSlice(upstreamConfig, { UPSTREAM_COOLDOWN_MS: '60000' });
    sut = new UpstreamAddresses(hostname, config, resolver, metrics);
    await sut.ensureResolved();

    sut.failed('192.0.2.10', 'connect_error');
    sut.failedOver('192.0.2.10');

    expect(picks(sut, 2)).toEqual(['192.0.2.11', '192.0.2.11']);
    const text = await metrics.render();
    expect(sampleValue(text, 'mailgateway_upstream_address_healthy', { address: '192.0.2.10' })).toBe(0);
    expect(sampleValue(text, 'mailgateway_upstream_failovers_total', { from_address: '192.0.2.10' })).toBe(1);

    sut.answered('192.0.2.10');
    expect(
      sampleValue(await metrics.render(), 'mailgateway_upstream_address_healthy', { address: '192.0.2.10' }),
    ).toBe(1);
  });
});
