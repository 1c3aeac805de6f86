import { ConfigSlice, defineConfig, LoadedConfig, loadConfigSlice, setting } from '@mailgateway/config';
import { z } from 'zod';
import { hostBudget, upstreamConfig } from './upstream.settings';

const redisSlice = defineConfig({
  name: 'redis',
  settings: { REDIS_URL: setting({ description: 'Redis', schema: z.string().optional() }) },
  build: (values) => values,
});

describe('upstream budget settings', () => {
  it('gives each host its own budget and rate, and the others the fleet default', () => {
    const { budget } = loadConfigSlice(upstreamConfig, {
      UPSTREAM_FLEET_MAX_CONNECTIONS: '8',
      UPSTREAM_HOST_BUDGETS: 'API.Flowmailer.net=10:50;smtp.example.com=4;slow.example.com=2:0.5',
    });
    expect(hostBudget(budget, 'api.flowmailer.net')).toEqual({ connections: 10, messagesPerSecond: 50 });
    expect(hostBudget(budget, 'smtp.example.com')).toEqual({ connections: 4 });
    expect(hostBudget(budget, 'slow.example.com')).toEqual({ connections: 2, messagesPerSecond: 0.5 });
    expect(hostBudget(budget, 'api.sendgrid.com')).toEqual({ connections: 8 });
    expect(budget.store).toBe('auto');
  });

  it.each([
    ['UPSTREAM_HOST_BUDGETS', 'api.example.com', 'must look like'],
    ['UPSTREAM_HOST_BUDGETS', 'api.example.com=0', 'needs 1 to 10000 connections'],
    ['UPSTREAM_HOST_BUDGETS', 'api.example.com=5:0', 'needs a message rate above 0'],
    ['UPSTREAM_FLEET_HEARTBEAT_TTL_MS', '3000', 'at least 3 × UPSTREAM_FLEET_HEARTBEAT_MS'],
  ])('refuses %s=%s', (variable, value, problem) => {
    expect(() => loadConfigSlice(upstreamConfig, { [variable]: value })).toThrow(problem);
  });

  it('refuses the redis store without REDIS_URL', () => {
    const slices = [upstreamConfig, redisSlice] as unknown as ConfigSlice[];
    expect(() => LoadedConfig.load(slices, { UPSTREAM_BUDGET_STORE: 'redis' })).toThrow('needs REDIS_URL');
    expect(() =>
      LoadedConfig.load(slices, { UPSTREAM_BUDGET_STORE: 'redis', REDIS_URL: 'redis://redis:6379' }),
    ).not.toThrow();
  });
});
