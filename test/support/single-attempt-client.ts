import { GatewayClientOptions, MailGatewayClient } from '@mailgateway/client';
import { TEST_API_KEY } from '@mailgateway/testing';

/**
 * A client of the gateway at `address` (with the test API key unless `options` name another) that
 * makes every call exactly once: each retry is the caller's own, where a ledger can count it.
 */
export function singleAttemptClient(
  address: string,
  options: Partial<Omit<GatewayClientOptions, 'address' | 'retry'>> = {},
): MailGatewayClient {
  return new MailGatewayClient({ address, apiKey: TEST_API_KEY, ...options, retry: { maxAttempts: 1 } });
}
