import { MailGatewayClient } from '@mailgateway/client';
import { MessageEventType, MessageStatus } from '@mailgateway/contracts';
import {
  aSendMailRequest,
  freePort,
  GatewayProcess,
  provisionTestDatabase,
  TestDatabase,
  TEST_API_KEY,
  waitFor,
} from '@mailgateway/testing';

describe('The gateway process', () => {
  describe('configuration', () => {
    it('refuses to start on bad settings, naming every bad variable and no secret', async () => {
      const gateway = GatewayProcess.spawn({
        GRPC_PORT: '70000',
        DELIVERY_CONCURRENCY: 'many',
        DATABASE_URL: 'mysql://admin:hunter2-canary@db/mail',
      });
      const { code } = await gateway.exited;

      expect(code).toBe(1);
      expect(gateway.logs).toContain('GRPC_PORT:');
      expect(gateway.messages).toContain('(got "70000")');
      expect(gateway.logs).toContain('DELIVERY_CONCURRENCY:');
      expect(gateway.logs).toContain('DATABASE_URL: must be a postgres:// or postgresql:// URL');
      expect(gateway.logs).not.toContain('hunter2-canary');
    });

    it('refuses an unknown provider driver', async () => {
      const database = await provisionTestDatabase('sqlite');
      try {
        const gateway = GatewayProcess.spawn({ ...database.env, MAIL_DRIVER: 'carrier-pigeon' });
        expect((await gateway.exited).code).toBe(1);
        expect(gateway.messages).toContain(
          'MAIL_DRIVER: unknown driver "carrier-pigeon" (known: sandbox, http, sendgrid, postmark, flowmailer, smtp)',
        );
      } finally {
        await database.drop();
      }
    });
  });

  describe('PostgreSQL migrations', () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await provisionTestDatabase('postgres', { migrate: false });
    });
    afterAll(() => database.drop());

    it('refuses to serve a schema that is behind, and serves once the migrate command ran', async () => {
      const env = { ...database.env, GRPC_PORT: String(await freePort()) };
      const early = GatewayProcess.spawn(env);
      expect((await early.exited).code).toBe(1);
      expect(early.logs).toContain('pending migrations: run the migrate command');

      const migrate = GatewayProcess.spawn(env, 'migrate');
      expect((await migrate.exited).code).toBe(0);
      expect(migrate.logs).toContain('Applied migrations: CreateOutbox1763700000000');
      const again = GatewayProcess.spawn(env, 'migrate');
      expect((await again.exited).code).toBe(0);
      expect(again.logs).toContain('Schema is up to date');

      const gateway = await GatewayProcess.start(env);
      gateway.kill('SIGTERM');
      expect((await gateway.exited).code).toBe(0);
    });
  });

  describe('shutdown on SIGTERM', () => {
    let database: TestDatabase;
    let client: MailGatewayClient;
    let env: Record<string, string>;

    beforeEach(async () => {
      database = await provisionTestDatabase('sqlite');
      const port = await freePort();
      env = { ...database.env, GRPC_PORT: String(port), DELIVERY_POLL_INTERVAL_MS: '20' };
      client = new MailGatewayClient({ address: `127.0.0.1:${port}`, apiKey: TEST_API_KEY });
    });

    afterEach(async () => {
      client.close();
      await database.drop();
    });

    const sendWhileSending = async (count: number) => {
      const ids: string[] = [];
      for (let index = 0; index < count; index++)
        ids.push((await client.sendMail(aSendMailRequest())).messageId);
      await waitFor('every message to be sending', async () => {
        const statuses = await Promise.all(ids.map((messageId) => client.getMessage({ messageId })));
        return statuses.every((message) => message.status === MessageStatus.MESSAGE_STATUS_SENDING)
          ? true
          : undefined;
      });
      return ids;
    };

    it('lets in-flight deliveries finish within the deadline, then exits 0', async () => {
      const gateway = await GatewayProcess.start({
        ...env,
        SANDBOX_LATENCY_MS: '1500',
        SHUTDOWN_TIMEOUT_MS: '10000',
      });
      const ids = await sendWhileSending(3);

      gateway.kill('SIGTERM');
      const { code, signal } = await gateway.exited;

      // It stopped by itself (not at the shutdown deadline, which exits 1), after the deliveries
      // finished: nothing was cut short and handed back.
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(gateway.messages).toContain('SIGTERM: stopping (deadline 10000 ms)');
      expect(gateway.messages).toMatch(/\nStopped$/);
      expect(gateway.messages).not.toContain('Shutdown deadline passed');
      expect(gateway.messages).not.toContain('unfinished deliveries at shutdown');
      const restarted = await GatewayProcess.start(env);
      try {
        for (const messageId of ids) {
          const message = await client.getMessage({ messageId });
          expect(message.status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
          expect(message.attempts).toBe(1);
        }
      } finally {
        restarted.kill('SIGTERM');
        await restarted.exited;
      }
    });

    it('releases deliveries that outlast the deadline, so the next process sends them at once', async () => {
      const gateway = await GatewayProcess.start({
        ...env,
        SANDBOX_LATENCY_MS: '600000',
        SHUTDOWN_TIMEOUT_MS: '1000',
        DELIVERY_LEASE_MS: '600000',
      });
      const ids = await sendWhileSending(3);

      gateway.kill('SIGTERM');
      const { code } = await gateway.exited;

      expect(code).toBe(0);
      expect(gateway.logs).toContain('Released 3 unfinished deliveries at shutdown');
      const restarted = await GatewayProcess.start(env);
      try {
        for (const messageId of ids) {
          const message = await waitFor('delivery after restart', async () => {
            const current = await client.getMessage({ messageId });
            return current.status === MessageStatus.MESSAGE_STATUS_DELIVERED ? current : undefined;
          });
          expect(message.attempts).toBe(2);
          expect(message.events.map((event) => event.type)).toContain(
            MessageEventType.MESSAGE_EVENT_TYPE_RELEASED,
          );
        }
      } finally {
        restarted.kill('SIGTERM');
        await restarted.exited;
      }
    });
  });
});
