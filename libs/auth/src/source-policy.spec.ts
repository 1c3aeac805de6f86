import { ErrorCode, GatewayException } from '@mailgateway/errors';
import { aMail } from '@mailgateway/testing';
import { Principal } from './principal';
import { Role } from './role';
import { enforceSourcePolicy } from './source-policy';
import { SuppressedRecipientsMode } from './suppressed-recipients-mode';

const refusal = (work: () => void): Pick<GatewayException, 'code' | 'field'> => {
  try {
    work();
  } catch (error) {
    if (error instanceof GatewayException) return { code: error.code, field: error.field };
    throw error;
  }
  throw new Error('expected a refusal');
};

const principal = (policy: Partial<Principal['policy']>): Principal => ({
  source: 'billing',
  roles: new Set([Role.MailSend]),
  policy: {
    allowedFromDomains: [],
    maxRecipients: null,
    rateLimitMessages: null,
    suppressedRecipients: SuppressedRecipientsMode.Drop,
    ...policy,
  },
  credential: { kind: 'api-key', prefix: '0123456789ab' },
});

describe(enforceSourcePolicy.name, () => {
  it('lets anything through without a policy', () => {
    expect(() => enforceSourcePolicy(principal({}), aMail())).not.toThrow();
  });

  it('refuses a From domain outside the allowed ones, in any case', () => {
    const sut = principal({ allowedFromDomains: ['example.com'] });
    expect(() =>
      enforceSourcePolicy(sut, aMail({ from: { address: 'a@EXAMPLE.com', name: '' } })),
    ).not.toThrow();
    expect(
      refusal(() => enforceSourcePolicy(sut, aMail({ from: { address: 'a@evil.example.com', name: '' } }))),
    ).toEqual({ code: ErrorCode.PermissionDenied, field: 'mail.from.address' });
  });

  it('caps recipients across to, cc and bcc', () => {
    const sut = principal({ maxRecipients: 2 });
    const mailbox = { address: 'x@example.org', name: '' };
    expect(() => enforceSourcePolicy(sut, aMail({ to: [mailbox], cc: [mailbox] }))).not.toThrow();
    expect(
      refusal(() => enforceSourcePolicy(sut, aMail({ to: [mailbox], cc: [mailbox], bcc: [mailbox] }))),
    ).toEqual({ code: ErrorCode.InvalidArgument, field: 'mail.to' });
  });
});
