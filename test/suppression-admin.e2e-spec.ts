import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { MailGatewayAdminClient, Suppression, SuppressionReason as ProtoReason } from '@mailgateway/client';
import { TransactionRunner } from '@mailgateway/database';
import { ALL_SOURCES, SuppressionList, SuppressionReason } from '@mailgateway/suppression';
import { DATABASE_KINDS, TEST_API_KEY } from '@mailgateway/testing';
import { expectGrpcError } from './support/grpc-assertions';
import { gatewayForAllTests, TestGateway } from './support/test-gateway';

const CLI_MAIN = join(__dirname, '..', 'dist/apps/cli/apps/cli/src/main.js');

/** Seconds from now as a protobuf Timestamp. */
const inSeconds = (seconds: number) => ({ seconds: Math.floor(Date.now() / 1000) + seconds, nanos: 0 });

/** An entry as provider feedback would leave it: straight into the list, in a transaction. */
async function suppressByFeedback(
  gateway: TestGateway,
  address: string,
  reason: SuppressionReason,
  scope = '*',
) {
  const list = gateway.app.get(SuppressionList);
  await gateway.app
    .get(TransactionRunner)
    .run((manager) =>
      list.add(manager, [{ address, scope, reason, origin: 'test:feedback', expiresAt: null }]),
    );
}

const manual = (address: string, overrides: Partial<Suppression> = {}) => ({
  suppression: {
    address,
    scope: '',
    reason: ProtoReason.SUPPRESSION_REASON_UNSPECIFIED,
    origin: '',
    createdAt: undefined,
    expiresAt: undefined,
    ...overrides,
  },
});

describe.each(DATABASE_KINDS)('Suppression admin RPCs on %s', (kind) => {
  const gateway = gatewayForAllTests(kind, { DELIVERY_ENABLED: 'false' });
  let addressCount = 0;
  /** An address no other test uses. */
  const newAddress = (label = 'someone') => `${label}-${++addressCount}@example.com`;

  const listAll = async (addressPrefix: string) =>
    (await gateway.admin.listSuppressions({ scope: '', addressPrefix, pageSize: 0, pageToken: '' }))
      .suppressions;

  describe('AddSuppression', () => {
    it('stores a manual entry, lowercased, and answers it as stored', async () => {
      const address = newAddress('Added');
      const expiresAt = inSeconds(3600);

      const { suppression } = await gateway.admin.addSuppression(
        manual(address.toUpperCase(), { scope: 'billing', origin: 'ticket 42', expiresAt }),
      );

      expect(suppression).toMatchObject({
        address: address.toLowerCase(),
        scope: 'billing',
        reason: ProtoReason.SUPPRESSION_REASON_MANUAL,
        origin: 'ticket 42',
        expiresAt,
      });
      expect(suppression!.createdAt!.seconds).toBeGreaterThan(0);
      expect(await listAll(address.toLowerCase())).toEqual([suppression]);
    });

    it('defaults the scope to every source, and replaces the note of a manual entry', async () => {
      const address = newAddress();
      const first = await gateway.admin.addSuppression(manual(address, { origin: 'first' }));
      const second = await gateway.admin.addSuppression(manual(address, { origin: 'second' }));

      expect(first.suppression?.scope).toBe(ALL_SOURCES);
      expect(second.suppression).toEqual({ ...first.suppression, origin: 'second' });
    });

    it.each([
      ['no suppression', { suppression: undefined }, /^suppression: required/],
      [
        'an address without "@"',
        manual('nobody.example.com'),
        /^suppression\.address: address must contain "@"/,
      ],
      ['no address', manual(''), /^suppression\.address: address is required/],
      [
        'a scope that is no source name',
        manual('a@example.com', { scope: 'Billing!' }),
        /^suppression\.scope: /,
      ],
      [
        'a note over 500 characters',
        manual('a@example.com', { origin: 'x'.repeat(501) }),
        /^suppression\.origin: /,
      ],
      [
        'an expiry in the past',
        manual('a@example.com', { expiresAt: inSeconds(-60) }),
        /^suppression\.expires_at: /,
      ],
      [
        'an expiry that is no timestamp',
        manual('a@example.com', { expiresAt: { seconds: 1, nanos: -1 } }),
        /^suppression\.expires_at: not a valid timestamp/,
      ],
    ])('refuses %s as INVALID_ARGUMENT and stores nothing', async (_case, request, message) => {
      await expectGrpcError(gateway.admin.addSuppression(request), status.INVALID_ARGUMENT, message);
      expect(await listAll('a@example.com')).toEqual([]);
    });

    it('refuses ALREADY_EXISTS for an address suppressed for another reason, and leaves that entry', async () => {
      const address = newAddress('bounced');
      await suppressByFeedback(gateway, address, SuppressionReason.HardBounce);

      await expectGrpcError(
        gateway.admin.addSuppression(manual(address, { origin: 'note' })),
        status.ALREADY_EXISTS,
        /already suppressed in scope "\*" \(hard_bounce\)/,
      );
      expect((await listAll(address)).map(({ reason, origin }) => [reason, origin])).toEqual([
        [ProtoReason.SUPPRESSION_REASON_HARD_BOUNCE, 'test:feedback'],
      ]);
    });
  });

  describe('CheckSuppressions', () => {
    it("answers the suppressed addresses, the source's own entry before the one for every source", async () => {
      const [both, everyone, other, free] = ['both', 'everyone', 'other', 'free'].map((label) =>
        newAddress(label),
      );
      await gateway.admin.addSuppression(manual(both, { origin: 'for all' }));
      await gateway.admin.addSuppression(manual(both, { scope: 'billing', origin: 'for billing' }));
      await gateway.admin.addSuppression(manual(everyone));
      await gateway.admin.addSuppression(manual(other, { scope: 'crm' }));

      const { suppressions } = await gateway.admin.checkSuppressions({
        source: 'billing',
        addresses: [both.toUpperCase(), everyone, other, free, both],
      });

      expect(suppressions.map(({ address, scope, origin }) => [address, scope, origin])).toEqual([
        [both, 'billing', 'for billing'],
        [everyone, ALL_SOURCES, ''],
      ]);
    });

    it.each([
      ['no source', { source: '', addresses: ['a@example.com'] }, /^source: required/],
      ['"*" as the source', { source: '*', addresses: ['a@example.com'] }, /^source: /],
      ['no addresses', { source: 'billing', addresses: [] }, /^addresses: at least one/],
      [
        'over 1000 addresses',
        { source: 'billing', addresses: Array.from({ length: 1001 }, (_, index) => `a${index}@example.com`) },
        /^addresses: 1001 addresses; at most 1000/,
      ],
      [
        'an address that is not one',
        { source: 'billing', addresses: ['a@example.com', 'a@b@c'] },
        /^addresses\[1\]: /,
      ],
    ])('refuses %s as INVALID_ARGUMENT', async (_case, request, message) => {
      await expectGrpcError(gateway.admin.checkSuppressions(request), status.INVALID_ARGUMENT, message);
    });
  });

  describe('ListSuppressions', () => {
    it('pages through entries in address then scope order, with a token that carries on', async () => {
      const prefix = `paged-${kind}-`;
      for (const [label, scope] of [
        ['b', '*'],
        ['a', 'crm'],
        ['a', '*'],
      ]) {
        await gateway.admin.addSuppression(manual(`${prefix}${label}@example.com`, { scope }));
      }

      const first = await gateway.admin.listSuppressions({
        scope: '',
        addressPrefix: prefix,
        pageSize: 2,
        pageToken: '',
      });
      const second = await gateway.admin.listSuppressions({
        scope: '',
        addressPrefix: prefix,
        pageSize: 2,
        pageToken: first.nextPageToken,
      });
      const crmOnly = await gateway.admin.listSuppressions({
        scope: 'crm',
        addressPrefix: prefix,
        pageSize: 0,
        pageToken: '',
      });

      expect(first.suppressions.map(({ address, scope }) => `${address} ${scope}`)).toEqual([
        `${prefix}a@example.com *`,
        `${prefix}a@example.com crm`,
      ]);
      expect(first.nextPageToken).not.toBe('');
      expect(second.suppressions.map(({ address, scope }) => `${address} ${scope}`)).toEqual([
        `${prefix}b@example.com *`,
      ]);
      expect(second.nextPageToken).toBe('');
      expect(crmOnly.suppressions.map(({ address }) => address)).toEqual([`${prefix}a@example.com`]);
    });

    it.each([
      ['a page size over 1000', { pageSize: 1001 }, /^page_size: 1001 is over the limit of 1000/],
      ['a page token not from this RPC', { pageToken: 'not-a-token' }, /^page_token: /],
      ['a scope that is no source name', { scope: 'a b' }, /^scope: /],
    ])('refuses %s as INVALID_ARGUMENT', async (_case, overrides, message) => {
      await expectGrpcError(
        gateway.admin.listSuppressions({
          scope: '',
          addressPrefix: '',
          pageSize: 0,
          pageToken: '',
          ...overrides,
        }),
        status.INVALID_ARGUMENT,
        message,
      );
    });
  });

  describe('RemoveSuppression', () => {
    const remove = (address: string, overrides = {}) =>
      gateway.admin.removeSuppression({ address, scope: '', force: false, reason: '', ...overrides });

    it('lifts a manual entry and answers it as it was', async () => {
      const address = newAddress();
      const { suppression } = await gateway.admin.addSuppression(manual(address, { origin: 'to lift' }));

      expect((await remove(address.toUpperCase())).suppression).toEqual(suppression);
      expect(await listAll(address)).toEqual([]);
    });

    it('answers NOT_FOUND for an address not on the list, or not in that scope', async () => {
      const address = newAddress();
      await gateway.admin.addSuppression(manual(address, { scope: 'crm' }));

      await expectGrpcError(remove(newAddress()), status.NOT_FOUND, /not suppressed in scope "\*"/);
      await expectGrpcError(remove(address), status.NOT_FOUND);
      expect(await listAll(address)).toHaveLength(1);
    });

    it.each([SuppressionReason.Complaint, SuppressionReason.Unsubscribe])(
      'lifts a %s only with force and a reason (FAILED_PRECONDITION otherwise)',
      async (reason) => {
        const address = newAddress(reason);
        await suppressByFeedback(gateway, address, reason);

        await expectGrpcError(remove(address), status.FAILED_PRECONDITION, /needs force and a reason/);
        await expectGrpcError(remove(address, { force: true }), status.FAILED_PRECONDITION);
        await expectGrpcError(remove(address, { reason: 'asked by phone' }), status.FAILED_PRECONDITION);
        expect(await listAll(address)).toHaveLength(1);

        const { suppression } = await remove(address, { force: true, reason: 'asked by phone (ticket 9)' });
        expect(suppression?.address).toBe(address);
        expect(await listAll(address)).toEqual([]);
      },
    );

    it.each([
      ['an address that is not one', { address: 'no-at-sign' }, /^address: address must contain "@"/],
      ['a scope that is no source name', { address: 'a@example.com', scope: '-' }, /^scope: /],
      ['a reason over 500 characters', { address: 'a@example.com', reason: 'x'.repeat(501) }, /^reason: /],
    ])('refuses %s as INVALID_ARGUMENT', async (_case, request, message) => {
      await expectGrpcError(
        gateway.admin.removeSuppression({ scope: '', force: false, reason: '', ...request }),
        status.INVALID_ARGUMENT,
        message,
      );
    });
  });

  it('refuses every suppression RPC to a key without the admin role as PERMISSION_DENIED, changing nothing', async () => {
    const key = await gateway.addSource(`sender-${kind}`, ['mail.send', 'mail.read']);
    const sender = new MailGatewayAdminClient({ address: gateway.address, apiKey: key });
    const address = newAddress('guarded');
    await gateway.admin.addSuppression(manual(address));
    try {
      await expectGrpcError(
        sender.listSuppressions({ scope: '', addressPrefix: '', pageSize: 0, pageToken: '' }),
        status.PERMISSION_DENIED,
      );
      await expectGrpcError(
        sender.checkSuppressions({ source: 'billing', addresses: [address] }),
        status.PERMISSION_DENIED,
      );
      await expectGrpcError(sender.addSuppression(manual(newAddress())), status.PERMISSION_DENIED);
      await expectGrpcError(
        sender.removeSuppression({ address, scope: '', force: false, reason: '' }),
        status.PERMISSION_DENIED,
      );
    } finally {
      sender.close();
    }
    expect(await listAll(address)).toHaveLength(1);
  });
});

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

describe('The suppressions CLI commands', () => {
  const gateway = gatewayForAllTests('sqlite', { DELIVERY_ENABLED: 'false' });

  const mailgateway = (args: string[]): Promise<CliRun> =>
    new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        [CLI_MAIN, ...args],
        {
          env: {
            PATH: process.env.PATH,
            MAILGATEWAY_ADDRESS: gateway.address,
            MAILGATEWAY_API_KEY: TEST_API_KEY,
          },
          timeout: 60_000,
        },
        (error, stdout, stderr) => {
          if (error && typeof error.code !== 'number') reject(error);
          else resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
        },
      );
    });
  const cli = (args: string[]) => mailgateway(['suppressions', ...args]);
  const cliOk = async (args: string[]) => {
    const run = await cli(args);
    expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
    return run.stdout;
  };

  beforeAll(() => {
    if (!existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} is missing: run \`npm run build\` first`);
  });

  it('adds, lists, checks and removes an entry', async () => {
    const before = Date.now();
    const added = await cliOk([
      'add',
      'Cli@Example.com',
      '--scope',
      'billing',
      '--note',
      'ticket 7',
      '--expires-in',
      '1d',
    ]);
    expect(added).toMatch(
      /^cli@example\.com {2}billing {14}MANUAL {7}added \S+Z {2}expires \S+Z {2}ticket 7\n$/,
    );
    const after = Date.now();
    const expires = Date.parse(/expires (\S+)/.exec(added)![1]);
    expect(expires).toBeGreaterThanOrEqual(before + 86_400_000);
    expect(expires).toBeLessThanOrEqual(after + 86_400_000);

    expect(await cliOk(['list', '--prefix', 'cli@'])).toBe(added);
    expect(await cliOk(['list', '--scope', 'crm', '--prefix', 'cli@'])).toBe('');
    const [json] = (await cliOk(['list', '--prefix', 'cli@', '--json'])).trimEnd().split('\n');
    expect(JSON.parse(json)).toMatchObject({
      address: 'cli@example.com',
      scope: 'billing',
      reason: 'MANUAL',
      origin: 'ticket 7',
      expiresAt: expect.stringMatching(/Z$/),
    });

    const checked = await cliOk(['check', '--source', 'billing', 'cli@example.com', 'free@example.com']);
    expect(checked).toBe(`${added}free@example.com  not suppressed\n`);
    expect(await cliOk(['check', '--source', 'crm', 'cli@example.com'])).toBe(
      'cli@example.com  not suppressed\n',
    );

    expect(await cliOk(['remove', 'cli@example.com', '--scope', 'billing'])).toBe(added);
    expect(await cliOk(['list', '--prefix', 'cli@'])).toBe('');
  });

  it('shows which recipients send left out', async () => {
    await cliOk(['add', 'left-out@example.com']);

    const sent = await mailgateway(['send', '--to', 'left-out@example.com', '--cc', 'kept@example.com']);

    expect(sent).toMatchObject({ code: 0, stderr: '' });
    expect(sent.stdout).toMatch(/^accepted \S+ at \S+; suppressed: left-out@example\.com\n$/);
  });

  it('lifts a complaint only with --force and --reason, and says why otherwise', async () => {
    await suppressByFeedback(gateway, 'complained@example.com', SuppressionReason.Complaint);

    const refused = await cli(['remove', 'complained@example.com']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /^error: FAILED_PRECONDITION: the entry is a complaint: .*needs force and a reason\n$/,
    );

    const lifted = await cliOk(['remove', 'complained@example.com', '--force', '--reason', 'customer asked']);
    expect(lifted).toMatch(/^complained@example\.com {2}\* +COMPLAINT /);
  });

  it('refuses a bad --expires-in before calling, and shows the gateway’s INVALID_ARGUMENT', async () => {
    const badDuration = await cli(['add', 'x@example.com', '--expires-in', '10']);
    expect(badDuration.code).toBe(1);
    expect(badDuration.stderr).toContain('Expected a duration such as 90s, 10m, 12h, 30d or 1d12h.');

    const badAddress = await cli(['add', 'not-an-address']);
    expect(badAddress).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: INVALID_ARGUMENT: suppression.address: address must contain "@"\n',
    });
  });
});
