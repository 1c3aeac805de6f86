import { credentials } from '@grpc/grpc-js';
import { GatewayClientOptions, GatewayClientOptionsError } from './gateway-client-options';
import { MailGatewayAdminClient } from './mail-gateway-admin.client';
import { MailGatewayClient } from './mail-gateway.client';

const PEM = '-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n';

describe('client options', () => {
  it.each<[string, Partial<GatewayClientOptions>, string]>([
    ['no address', { address: '' }, 'address: required'],
    ['a certificate without its key', { tls: { cert: PEM } }, 'tls.key: tls.cert and tls.key go together'],
    ['a key without its certificate', { tls: { key: PEM } }, 'tls.cert: tls.cert and tls.key go together'],
    [
      'both tls and credentials',
      { tls: true, credentials: credentials.createInsecure() },
      'tls and credentials: give one or the other',
    ],
    ['a deadline of 0', { deadlineMs: 0 }, 'deadlineMs: expected a positive number'],
    ['a keepalive of NaN', { keepalive: { timeMs: NaN } }, 'keepalive.timeMs: expected a positive number'],
    ['a negative keepalive timeout', { keepalive: { timeMs: 1, timeoutMs: -1 } }, 'keepalive.timeoutMs'],
    ['0 attempts', { retry: { maxAttempts: 0 } }, 'retry.maxAttempts: expected a whole number from 1'],
    ['1.5 attempts', { retry: { maxAttempts: 1.5 } }, 'retry.maxAttempts'],
    ['a backoff of 0', { retry: { initialBackoffMs: 0 } }, 'retry.initialBackoffMs'],
  ])('are refused with an error naming the option: %s', (_case, options, message) => {
    for (const Client of [MailGatewayClient, MailGatewayAdminClient]) {
      const create = () => new Client({ address: '127.0.0.1:1', ...options });
      expect(create).toThrow(GatewayClientOptionsError);
      expect(create).toThrow(message);
    }
  });

  // grpc-js validates the service config when the channel is made: these would throw if it were wrong.
  it.each<[string, Partial<GatewayClientOptions>]>([
    ['the defaults', {}],
    [
      'round_robin over a dns:/// target',
      { address: 'dns:///mailgateway-headless.mail.svc:50051', loadBalancing: 'round_robin' },
    ],
    ['a sub-millisecond backoff', { retry: { initialBackoffMs: 0.4, maxBackoffMs: 1.5 } }],
    ['a single attempt', { retry: { maxAttempts: 1 } }],
    ['TLS with the system CAs and keepalive', { tls: true, keepalive: { timeMs: 30_000, timeoutMs: 5_000 } }],
  ])('are accepted by grpc-js: %s', (_case, options) => {
    expect(() => new MailGatewayClient({ address: '127.0.0.1:1', ...options }).close()).not.toThrow();
  });

  it('a service config grpc-js refuses would be caught by the cases above', () => {
    const broken = { channelOptions: { 'grpc.service_config': '{"methodConfig":[{"retryPolicy":{}}]}' } };
    expect(() => new MailGatewayClient({ address: '127.0.0.1:1', ...broken })).toThrow();
  });
});
