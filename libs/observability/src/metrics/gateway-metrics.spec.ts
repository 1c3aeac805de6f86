import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GatewayMetrics } from './gateway-metrics';

describe(GatewayMetrics.name, () => {
  it('lists every gateway metric in the README', () => {
    const readme = readFileSync(join(__dirname, '../../../../README.md'), 'utf8');
    const names = new GatewayMetrics().registry
      .getMetricsAsArray()
      .map((metric) => metric.name)
      .filter((name) => name.startsWith('mailgateway_'));
    expect(names.length).toBeGreaterThan(10);
    expect(names.filter((name) => !readme.includes(`| \`${name}\` |`))).toEqual([]);
  });

  it('follows the Prometheus naming conventions: counters end in _total, durations in _seconds', async () => {
    const metrics = await new GatewayMetrics().registry.getMetricsAsJSON();
    for (const { name, type } of metrics.filter((metric) => metric.name.startsWith('mailgateway_'))) {
      if (String(type) === 'counter') expect(name).toMatch(/_total$/);
      if (/duration|latency|_age_/.test(name)) expect(name).toMatch(/_seconds$/);
    }
  });

  it('leaves the outbox gauges out of a scrape while the reader fails', async () => {
    const sut = new GatewayMetrics();
    sut.setOutboxDepthReader(async () => ({ byStatus: { queued: 2 }, oldestDueAgeSeconds: 1.5 }));
    expect(await sut.render()).toContain('mailgateway_outbox_messages{status="queued"} 2');
    sut.setOutboxDepthReader(() => Promise.reject(new Error('database down')));
    expect(await sut.render()).not.toContain('mailgateway_outbox_messages{');
  });

  it('reads whether the suppression filter is in use at each scrape', async () => {
    const sut = new GatewayMetrics();
    let ready = false;
    sut.setSuppressionFilterReader(() => ready);
    expect(await sut.render()).toContain('mailgateway_suppression_filter_ready 0');
    ready = true;
    expect(await sut.render()).toContain('mailgateway_suppression_filter_ready 1');
  });

  it('reports the build it runs as mailgateway_build_info, always 1', async () => {
    const sut = new GatewayMetrics({ version: '1.2.3', commit: 'abc123' });
    expect(await sut.render()).toContain('mailgateway_build_info{version="1.2.3",commit="abc123"} 1');
  });
});
