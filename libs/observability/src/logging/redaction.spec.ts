import { scrubProviderText } from './redaction';

describe(scrubProviderText.name, () => {
  it("leaves the provider's text out and keeps the status and the retry time", () => {
    expect(
      scrubProviderText('HTTP 503: cannot take "Your invoice"; now; retry at 2026-11-21T06:43:05.765Z'),
    ).toBe('HTTP 503: [redacted]; retry at 2026-11-21T06:43:05.765Z');
    expect(scrubProviderText('gave up after 25 attempts: HTTP 422: unknown recipient ada@example.org')).toBe(
      'gave up after 25 attempts: HTTP 422: [redacted]',
    );
    expect(scrubProviderText('HTTP 500; retry at 2026-11-21T06:43:05.765Z')).toBe(
      'HTTP 500; retry at 2026-11-21T06:43:05.765Z',
    );
    expect(scrubProviderText('mail.example: connect ECONNREFUSED 192.0.2.1:443')).toBe(
      'mail.example: connect ECONNREFUSED 192.0.2.1:443',
    );
  });
});
