import type { SourceRoutes } from '@mailgateway/auth';
import { loadConfigSlice } from '@mailgateway/config';
import { deliveryConfig } from '../delivery.settings';
import type { MailDriver } from '../drivers';
import { DeliveryRoutes } from './delivery-routes';
import { MailDriverSet } from './mail-driver-set';

const driver = (name: string): MailDriver => ({ name, send: () => Promise.reject(new Error('not sent')) });

describe(DeliveryRoutes.name, () => {
  const config = loadConfigSlice(deliveryConfig, { FALLBACK_AFTER_FAILURES: '2' });
  const chains: Record<string, readonly string[]> = {
    billing: ['postmark', 'smtp'],
    reports: ['smtp'],
    drifted: ['gone', 'postmark'],
    lost: ['gone'],
  };
  const sources = { driversFor: async (source: string) => chains[source] ?? null } as unknown as SourceRoutes;
  const drivers = new MailDriverSet(driver('sendgrid'), driver('sandbox'), [
    driver('postmark'),
    driver('smtp'),
  ]);
  const sut = new DeliveryRoutes(drivers, sources, config);
  const route = async (source: string, attempts: number) => {
    const names: string[] = [];
    for (let attempt = 1; attempt <= attempts; attempt++) {
      names.push((await sut.driverFor(source, attempt)).name);
    }
    return names;
  };

  it('takes the default chain for a source without one: MAIL_DRIVER, then the fallback', async () => {
    expect(await route('marketing', 5)).toEqual(['sendgrid', 'sendgrid', 'sandbox', 'sandbox', 'sandbox']);
  });

  it("walks a source's own chain, FALLBACK_AFTER_FAILURES attempts per driver, staying on the last", async () => {
    expect(await route('billing', 6)).toEqual(['postmark', 'postmark', 'smtp', 'smtp', 'smtp', 'smtp']);
    expect(await route('reports', 3)).toEqual(['smtp', 'smtp', 'smtp']);
  });

  it('skips drivers this gateway does not run, and falls back to the default chain when none is left', async () => {
    expect(await route('drifted', 3)).toEqual(['postmark', 'postmark', 'postmark']);
    expect(await route('lost', 3)).toEqual(['sendgrid', 'sendgrid', 'sandbox']);
  });

  it('names the drivers it runs once each, the default chain first', () => {
    expect(drivers.names).toEqual(['sendgrid', 'sandbox', 'postmark', 'smtp']);
    expect(drivers.unknown(['smtp', 'ses', 'postmark', 'mailgun'])).toEqual([
      { index: 1, name: 'ses' },
      { index: 3, name: 'mailgun' },
    ]);
  });
});
