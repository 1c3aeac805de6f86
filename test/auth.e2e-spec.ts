import { createHash } from 'node:crypto';
import { ServiceError, status } from '@grpc/grpc-js';
import { generateApiKey } from '@mailgateway/auth';
import { MailGatewayAdminClient, MailGatewayClient } from '@mailgateway/client';
import {
  aSendMailRequest,
  DATABASE_KINDS,
  provisionTestDatabase,
  TestDatabase,
  TEST_API_KEY,
  waitFor,
} from '@mailgateway/testing';
import { DataSource } from 'typeorm';
import { expectGrpcError } from './support/grpc-assertions';
import { gatewayForAllTests, startTestGateway, TestGateway } from './support/test-gateway';

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

describe.each(DATABASE_KINDS)('Authentication and roles on %s', (kind) => {
  const gateway = gatewayForAllTests(kind, { DELIVERY_ENABLED: 'false' });

  let sourceCount = 0;
  const newSource = (roles: string[], policy = {}) => {
    const name = `source-${kind}-${++sourceCount}`;
    return gateway.addSource(name, roles, policy).then((key) => ({ name, key }));
  };
  const send = (client: MailGatewayClient) => client.sendMail(aSendMailRequest());
  const withMetadata = (entries: [string, string][]) => {
    const metadata: Record<string, string> = {};
    for (const [key, value] of entries) metadata[key] = value;
    return gateway.connect(undefined, { metadata });
  };

  describe('credential matrix', () => {
    it('refuses a call with no credentials as UNAUTHENTICATED', async () => {
      await expectGrpcError(send(gateway.connect()), status.UNAUTHENTICATED, /^missing credentials/);
    });

    it.each([
      ['another scheme', 'Basic dXNlcjpwYXNz'],
      ['a bare key without "Bearer"', TEST_API_KEY],
      ['a key in the wrong format', 'Bearer mgw_nothex_short'],
      ['a bearer without a key', 'Bearer'],
    ])('refuses malformed credentials (%s) as UNAUTHENTICATED', async (_case, authorization) => {
      await expectGrpcError(
        send(withMetadata([['authorization', authorization]])),
        status.UNAUTHENTICATED,
        /^malformed credentials/,
      );
    });

    it('refuses a well-formed key it does not know, and a known prefix with a wrong secret', async () => {
      await expectGrpcError(
        send(gateway.connect(generateApiKey().key)),
        status.UNAUTHENTICATED,
        'unknown API key',
      );
      const forged = TEST_API_KEY.slice(0, 17) + generateApiKey().key.slice(17);
      await expectGrpcError(send(gateway.connect(forged)), status.UNAUTHENTICATED, 'unknown API key');
    });

    it('refuses a revoked key at once', async () => {
      const { key } = await newSource(['mail.send']);
      const client = gateway.connect(key);
      await send(client);
      await gateway.admin.revokeApiKey({ prefix: key.slice(4, 16) });
      await expectGrpcError(send(client), status.UNAUTHENTICATED, 'API key revoked');
    });

    it('refuses an expired key', async () => {
      const { name } = await newSource(['mail.send']);
      const { key, apiKey } = await gateway.admin.createApiKey({ source: name, expiresInSeconds: 1 });
      expect(apiKey?.expiresAt).toBeDefined();
      const client = gateway.connect(key);
      await send(client).catch(() => undefined);
      const error = await waitFor('the key to expire', () =>
        send(client).then(
          () => undefined,
          (error: ServiceError) => error,
        ),
      );
      expect(status[error.code]).toBe('UNAUTHENTICATED');
      expect(error.details).toBe('API key expired');
    });

    it('keeps a rotated key valid inside the overlap, and refuses it after', async () => {
      const { key: old } = await newSource(['mail.send']);
      const rotated = await gateway.admin.rotateApiKey({
        prefix: old.slice(4, 16),
        overlapSeconds: 2,
        expiresInSeconds: 0,
      });
      expect(rotated.key).not.toBe(old);
      expect(rotated.previous?.replacedBy).toBe(rotated.apiKey?.prefix);

      // Inside the overlap both keys work.
      await send(gateway.connect(old));
      await send(gateway.connect(rotated.key));

      const error = await waitFor('the old key to run out', () =>
        send(gateway.connect(old)).then(
          () => undefined,
          (error: ServiceError) => error,
        ),
      );
      expect(status[error.code]).toBe('UNAUTHENTICATED');
      expect(error.details).toBe('API key expired');
      await send(gateway.connect(rotated.key));
    });

    it('refuses a call the role does not allow as PERMISSION_DENIED', async () => {
      const sender = gateway.connect((await newSource(['mail.send'])).key);
      const reader = gateway.connect((await newSource(['mail.read'])).key);
      const accepted = await send(sender);

      await expectGrpcError(
        sender.getMessage({ messageId: accepted.messageId }),
        status.PERMISSION_DENIED,
        /mail\.read/,
      );
      await expectGrpcError(send(reader), status.PERMISSION_DENIED, /mail\.send/);
      await expectGrpcError(
        reader.sendMailBatch({ items: [aSendMailRequest()] }),
        status.PERMISSION_DENIED,
        /mail\.send/,
      );
      const notAdmin = new MailGatewayAdminClient({
        address: gateway.address,
        apiKey: (await newSource(['mail.send', 'mail.read'])).key,
      });
      try {
        await expectGrpcError(notAdmin.listSources(), status.PERMISSION_DENIED, /"admin"/);
        await expectGrpcError(
          notAdmin.createApiKey({ source: 'dev', expiresInSeconds: 0 }),
          status.PERMISSION_DENIED,
          /"admin"/,
        );
      } finally {
        notAdmin.close();
      }
    });

    it('checks credentials before anything else: an unauthenticated bad request stores nothing', async () => {
      const messages = await gateway.count('outbox_message');
      await expectGrpcError(gateway.connect().sendMail(aSendMailRequest({ to: [] })), status.UNAUTHENTICATED);
      expect(await gateway.count('outbox_message')).toBe(messages);
    });
  });

  describe('cross-source probes', () => {
    it("answers another source's message id exactly like an id that does not exist", async () => {
      const owner = gateway.connect((await newSource(['mail.send', 'mail.read'])).key);
      const prober = gateway.connect((await newSource(['mail.send', 'mail.read'])).key);
      const { messageId } = await send(owner);

      expect((await owner.getMessage({ messageId })).messageId).toBe(messageId);
      const foreign = await expectGrpcError(prober.getMessage({ messageId }), status.NOT_FOUND);
      const absent = await expectGrpcError(prober.getMessage({ messageId: UNKNOWN_ID }), status.NOT_FOUND);
      expect(foreign.details).toBe(absent.details);
      // Every trailer alike, but the clock (the two answers may straddle a second).
      const trailers = (error: ServiceError) =>
        Object.entries(error.metadata.toJSON()).filter(([name]) => name !== 'date');
      expect(trailers(foreign)).toEqual(trailers(absent));
    });

    it('scopes idempotency keys per source: the same key in two sources makes two messages', async () => {
      const first = gateway.connect((await newSource(['mail.send'])).key);
      const second = gateway.connect((await newSource(['mail.send'])).key);
      const key = `probe-${kind}`;

      const ours = await first.sendMail(aSendMailRequest({ subject: 'Ours' }, key));
      // Other content under the same key: no conflict and no replay, so nothing leaks across sources.
      const theirs = await second.sendMail(aSendMailRequest({ subject: 'Theirs' }, key));
      expect(theirs.replayed).toBe(false);
      expect(theirs.messageId).not.toBe(ours.messageId);
      const replay = await second.sendMail(aSendMailRequest({ subject: 'Theirs' }, key));
      expect(replay).toMatchObject({ messageId: theirs.messageId, replayed: true });
      expect((await first.sendMail(aSendMailRequest({ subject: 'Ours' }, key))).messageId).toBe(
        ours.messageId,
      );
    });
  });

  describe('source policy', () => {
    it('refuses a From domain outside the policy, alone or as a batch item', async () => {
      const client = gateway.connect(
        (await newSource(['mail.send'], { allowedFromDomains: ['example.com'] })).key,
      );
      await client.sendMail(aSendMailRequest({ from: { address: 'billing@example.com', name: '' } }));
      await expectGrpcError(
        client.sendMail(aSendMailRequest({ from: { address: 'ceo@example.net', name: '' } })),
        status.PERMISSION_DENIED,
        /^mail\.from\.address: source "[^"]+" may send from example\.com only/,
      );
      const { results } = await client.sendMailBatch({
        items: [aSendMailRequest(), aSendMailRequest({ from: { address: 'x@example.net', name: '' } })],
      });
      expect(results[0].accepted).toBeDefined();
      expect(results[1].rejected).toMatchObject({ code: 'PERMISSION_DENIED', field: 'mail.from.address' });
    });

    it("caps recipients at the source's own limit", async () => {
      const client = gateway.connect((await newSource(['mail.send'], { maxRecipients: 1 })).key);
      await expectGrpcError(
        client.sendMail(aSendMailRequest({ cc: [{ address: 'grace@example.net', name: '' }] })),
        status.INVALID_ARGUMENT,
        /^mail\.to: message has 2 recipients .* may send to 1/,
      );
    });
  });

  describe('admin RPCs', () => {
    it('stores only a hash of each key, shows the key once and never lists it', async () => {
      const { name, key } = await newSource(['mail.send']);
      const { apiKeys } = await gateway.admin.listApiKeys({ source: name });
      expect(apiKeys).toEqual([expect.objectContaining({ prefix: key.slice(4, 16), source: name })]);
      expect(JSON.stringify(apiKeys)).not.toContain(key.slice(17));

      const rows: { key_hash: string }[] = await gateway.app
        .get(DataSource)
        .query(`SELECT * FROM api_key WHERE source = '${name}'`);
      expect(rows).toHaveLength(1);
      expect(rows[0].key_hash).toBe(createHash('sha256').update(key).digest('hex'));
      expect(JSON.stringify(rows)).not.toContain(key.slice(17));
    });

    it('answers ALREADY_EXISTS, NOT_FOUND and INVALID_ARGUMENT naming the field', async () => {
      const { name } = await newSource(['mail.send']);
      await expectGrpcError(gateway.addSource(name, ['mail.send']), status.ALREADY_EXISTS, /already exists/);
      await expectGrpcError(
        gateway.admin.revokeApiKey({ prefix: '0123456789ab' }),
        status.NOT_FOUND,
        'API key 0123456789ab not found',
      );
      await expectGrpcError(
        gateway.admin.createApiKey({ source: 'nobody-here', expiresInSeconds: 0 }),
        status.NOT_FOUND,
      );
      await expectGrpcError(gateway.addSource('Bad Name', ['mail.send']), status.INVALID_ARGUMENT, /^name: /);
      await expectGrpcError(
        gateway.addSource(`ok-${kind}`, ['mail.write']),
        status.INVALID_ARGUMENT,
        /^roles\[0\]: unknown role/,
      );
    });

    it('updates roles: a source given mail.read can read from its next call', async () => {
      const { name, key } = await newSource(['mail.send']);
      const client = gateway.connect(key);
      const { messageId } = await send(client);
      await expectGrpcError(client.getMessage({ messageId }), status.PERMISSION_DENIED);
      await gateway.admin.updateSource({
        source: {
          name,
          roles: ['mail.send', 'mail.read'],
          policy: undefined,
          certificateIdentity: '',
          createdAt: undefined,
          updatedAt: undefined,
        },
      });
      expect((await client.getMessage({ messageId })).messageId).toBe(messageId);
    });
  });
});

describe.each(DATABASE_KINDS)('Revocation across replicas on %s', (kind) => {
  let database: TestDatabase;
  let first: TestGateway;
  let second: TestGateway;

  beforeAll(async () => {
    database = await provisionTestDatabase(kind);
    const env = { ...database.env, DELIVERY_ENABLED: 'false' };
    first = await startTestGateway(env);
    second = await startTestGateway(env);
  });

  afterAll(async () => {
    await second?.close();
    await first?.close();
    await database?.drop();
  });

  it('refuses a key on every replica as soon as one revokes it', async () => {
    const key = await first.addSource(`replicated-${kind}`, ['mail.send']);
    await second.connect(key).sendMail(aSendMailRequest());
    await first.admin.revokeApiKey({ prefix: key.slice(4, 16) });
    await expectGrpcError(
      second.connect(key).sendMail(aSendMailRequest()),
      status.UNAUTHENTICATED,
      'API key revoked',
    );
  });
});
