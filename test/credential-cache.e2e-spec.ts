import { status } from '@grpc/grpc-js';
import { MailGatewayAdminClient, MailGatewayClient } from '@mailgateway/client';
import { SuppressedRecipients } from '@mailgateway/contracts';
import {
  aSendMailRequest,
  freePort,
  GatewayProcess,
  openTestDataSource,
  provisionTestDatabase,
  TEST_API_KEY,
  TestDatabase,
} from '@mailgateway/testing';
import { DataSource } from 'typeorm';
import { expectGrpcError } from './support/grpc-assertions';
import { singleAttemptClient } from './support/single-attempt-client';
import { startTestGateway, TestGateway } from './support/test-gateway';

/**
 * The longest cache, so B's entry is surely live when the key is revoked: the refusal that follows
 * must come from the commit's own check of the key, not from a fresh lookup.
 */
const LONGEST_CACHE = { API_KEY_CACHE_MS: '5000' };

const outboxRows = async (dataSource: DataSource) => {
  const [{ count }] = await dataSource.query('SELECT COUNT(*) AS count FROM outbox_message');
  return Number(count);
};

async function createSourceWithKey(admin: MailGatewayAdminClient, name: string): Promise<string> {
  await admin.createSource({
    source: {
      name,
      roles: ['mail.send', 'mail.read'],
      policy: {
        allowedFromDomains: [],
        maxRecipients: 0,
        rateLimitMessages: 0,
        drivers: [],
        suppressedRecipients: SuppressedRecipients.SUPPRESSED_RECIPIENTS_UNSPECIFIED,
      },
      certificateIdentity: '',
      createdAt: undefined,
      updatedAt: undefined,
    },
  });
  return (await admin.createApiKey({ source: name, expiresInSeconds: 0 })).key;
}

/** Sends through `mail` (warming its cache), revokes through `admin`, and checks what `mail` refuses. */
async function expectRevocationStopsCachedKey(
  mail: (key: string) => MailGatewayClient,
  admin: MailGatewayAdminClient,
  dataSource: DataSource,
  name: string,
) {
  const key = await createSourceWithKey(admin, name);
  const client = mail(key);
  const { messageId } = await client.sendMail(aSendMailRequest());
  const stored = await outboxRows(dataSource);

  await admin.revokeApiKey({ prefix: key.slice(4, 16) });

  await expectGrpcError(client.sendMail(aSendMailRequest()), status.UNAUTHENTICATED, 'API key revoked');
  await expectGrpcError(
    client.sendMailBatch({ items: [aSendMailRequest(), aSendMailRequest()] }),
    status.UNAUTHENTICATED,
    'API key revoked',
  );
  expect(await outboxRows(dataSource)).toBe(stored);
  await expectGrpcError(client.getMessage({ messageId }), status.UNAUTHENTICATED, 'API key revoked');
}

describe('A revoked key, cached by another replica (two gateway processes on one PostgreSQL)', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let gatewayA: GatewayProcess;
  let gatewayB: GatewayProcess;
  let adminA: MailGatewayAdminClient;
  let mailB: (apiKey: string) => MailGatewayClient;
  const clients: { close(): void }[] = [];

  const startGateway = async () => {
    const port = await freePort();
    const gateway = await GatewayProcess.start({
      ...database.env,
      ...LONGEST_CACHE,
      GRPC_PORT: String(port),
      DELIVERY_ENABLED: 'false',
    });
    return { gateway, address: `127.0.0.1:${port}` };
  };

  beforeAll(async () => {
    database = await provisionTestDatabase('postgres');
    dataSource = await openTestDataSource(database.env);
    const a = await startGateway();
    const b = await startGateway();
    gatewayA = a.gateway;
    gatewayB = b.gateway;
    adminA = new MailGatewayAdminClient({ address: a.address, apiKey: TEST_API_KEY });
    clients.push(adminA);
    mailB = (apiKey) => {
      const client = singleAttemptClient(b.address, { apiKey });
      clients.push(client);
      return client;
    };
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    for (const gateway of [gatewayA, gatewayB]) await gateway?.crash();
    await dataSource?.destroy();
    await database?.drop();
  });

  it("refuses B's very next SendMail, SendMailBatch and GetMessage once A revokes the key, and stores nothing", async () => {
    await expectRevocationStopsCachedKey(mailB, adminA, dataSource, 'replicated');
  });
});

describe('A revoked key, cached by the same gateway (SQLite)', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let gateway: TestGateway;

  beforeAll(async () => {
    database = await provisionTestDatabase('sqlite');
    gateway = await startTestGateway({ ...database.env, ...LONGEST_CACHE, DELIVERY_ENABLED: 'false' });
    dataSource = gateway.app.get(DataSource);
  });

  afterAll(async () => {
    await gateway?.close();
    await database?.drop();
  });

  it('refuses the very next SendMail, SendMailBatch and GetMessage, and stores nothing', async () => {
    await expectRevocationStopsCachedKey(
      (key) => gateway.connect(key, { retry: { maxAttempts: 1 } }),
      gateway.admin,
      dataSource,
      'single',
    );
  });
});
