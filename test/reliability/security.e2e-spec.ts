import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceError, status } from '@grpc/grpc-js';
import { ALL_ROLES, generateApiKey, Role } from '@mailgateway/auth';
import { MailGatewayAdminClient } from '@mailgateway/client';
import { MessageStatus } from '@mailgateway/contracts';
import {
  aCanaryMail,
  aSendMailRequest,
  canaryKeys,
  FakeUpstream,
  freePort,
  GatewayProcess,
  httpGet,
  leakedCanaries,
  mailCanaries,
  provisionTestDatabase,
  StaticHostResolver,
  TestCertificateAuthority,
  TestDatabase,
  waitFor,
  TEST_API_KEY,
  TEST_SOURCE,
} from '@mailgateway/testing';
import { singleAttemptClient } from '../support/single-attempt-client';
import { startTestGateway, TestGateway } from '../support/test-gateway';
import { sized } from './reliability-scale';

const HOSTNAME = 'canary.upstream.test';
const PROBES = sized(1_000, 10_000);

/** What a probe could compare besides the status: every trailer but the clock. */
function trailers(error: ServiceError): string {
  return JSON.stringify(Object.entries(error.metadata.toJSON()).filter(([name]) => name !== 'date'));
}

function admin<T>(
  gateway: TestGateway,
  apiKey: string | undefined,
  call: (client: MailGatewayAdminClient) => Promise<T>,
): Promise<T> {
  const client = new MailGatewayAdminClient({ address: gateway.address, apiKey, retry: { maxAttempts: 1 } });
  return call(client).finally(() => client.close());
}
const UPSTREAM = '127.0.0.6';

// Scenario 9: what must never leak, and upstreams that must never be called.
describe('Reliability: security', () => {
  let authority: TestCertificateAuthority;
  let scratch: string;
  let caFile: string;
  let database: TestDatabase;

  beforeAll(async () => {
    authority = await TestCertificateAuthority.create();
    scratch = await mkdtemp(join(tmpdir(), 'mailgateway-security-'));
    caFile = await authority.writePem(join(scratch, 'ca.pem'));
    database = await provisionTestDatabase('sqlite');
  });

  afterAll(async () => {
    await database?.drop();
    await rm(scratch, { recursive: true, force: true });
  });

  it('answers every cell of the credential matrix as the roles say', async () => {
    const gateway = await startTestGateway({ ...database.env, DELIVERY_ENABLED: 'false' });
    const cells: string[] = [];
    const mismatches: string[] = [];
    try {
      const { messageId } = await gateway.client.sendMail(aSendMailRequest());
      const calls: Record<string, [Role, (key: string | undefined) => Promise<unknown>]> = {
        SendMail: [Role.MailSend, (key) => gateway.connect(key).sendMail(aSendMailRequest())],
        SendMailBatch: [
          Role.MailSend,
          (key) => gateway.connect(key).sendMailBatch({ items: [aSendMailRequest()] }),
        ],
        GetMessage: [Role.MailRead, (key) => gateway.connect(key).getMessage({ messageId })],
        ListSources: [Role.Admin, (key) => admin(gateway, key, (client) => client.listSources())],
        ListApiKeys: [
          Role.Admin,
          (key) => admin(gateway, key, (client) => client.listApiKeys({ source: TEST_SOURCE })),
        ],
      };
      // A source holds at least one role (the admin API refuses none).
      const roleSets = [...ALL_ROLES.map((role) => [role]), [Role.MailSend, Role.MailRead], [...ALL_ROLES]];
      const credentials: { label: string; key: string | undefined; roles: Role[] | null }[] = [
        { label: 'no key', key: undefined, roles: null },
        { label: 'unknown key', key: generateApiKey().key, roles: null },
      ];
      for (const [index, roles] of roleSets.entries()) {
        const key = await gateway.addSource(`matrix-${index}`, roles);
        credentials.push({ label: roles.join('+'), key, roles });
      }
      for (const { label, key, roles } of credentials) {
        for (const [rpc, [role, call]] of Object.entries(calls)) {
          // The message belongs to the bootstrap source: with the role, GetMessage gets as far as
          // the lookup, which hides another source's message as NOT_FOUND.
          const expected =
            roles === null
              ? 'UNAUTHENTICATED'
              : !roles.includes(role)
                ? 'PERMISSION_DENIED'
                : rpc === 'GetMessage'
                  ? 'NOT_FOUND'
                  : 'OK';
          const actual = await call(key).then(
            () => 'OK',
            (error: ServiceError) => status[error.code],
          );
          cells.push(`${label} ${rpc} ${actual}`);
          if (actual !== expected) mismatches.push(`${label} ${rpc}: expected ${expected}, got ${actual}`);
        }
      }
    } finally {
      await gateway.close();
    }
    console.log(
      `[reliability 9 credential matrix] credentials=${cells.length / 5} rpcs=5 cells=${cells.length} mismatches=${mismatches.length}`,
    );
    expect(mismatches).toEqual([]);
  });

  it(`answers ${PROBES} cross-source probes with NOT_FOUND only, exactly like absent ids`, async () => {
    const gateway = await startTestGateway({ ...database.env, DELIVERY_ENABLED: 'false' });
    const codes = new Map<string, number>();
    let differing = 0;
    try {
      const owner = gateway.connect(await gateway.addSource('probe-owner', [Role.MailSend, Role.MailRead]));
      const prober = gateway.connect(
        await gateway.addSource('probe-prober', [Role.MailSend, Role.MailRead]),
        {
          retry: { maxAttempts: 1 },
        },
      );
      const { results } = await owner.sendMailBatch({
        items: Array.from({ length: 200 }, (_, index) => aSendMailRequest({ subject: `probe ${index}` })),
      });
      const foreign = results.map((result) => result.accepted!.messageId);
      const baseline = await prober
        .getMessage({ messageId: randomUUID() })
        .catch((error: ServiceError) => error);
      const answers = await Promise.all(
        Array.from({ length: 20 }, async (_, caller) => {
          const seen: string[] = [];
          for (let probe = caller; probe < PROBES; probe += 20) {
            // Half the probes name another source's messages, half ids that do not exist.
            const messageId = probe % 2 === 0 ? foreign[probe % foreign.length] : randomUUID();
            seen.push(
              await prober.getMessage({ messageId }).then(
                (message) => `OK ${message.messageId}`,
                (error: ServiceError) => `${status[error.code]}|${error.details}|${trailers(error)}`,
              ),
            );
          }
          return seen;
        }),
      );
      const expected = `${status[(baseline as ServiceError).code]}|${(baseline as ServiceError).details}|${trailers(baseline as ServiceError)}`;
      for (const answer of answers.flat()) {
        const code = answer.split(/[| ]/)[0];
        codes.set(code, (codes.get(code) ?? 0) + 1);
        if (answer !== expected) differing++;
      }
    } finally {
      await gateway.close();
    }
    console.log(
      `[reliability 9 cross-source probes] probes=${PROBES} statuses=${JSON.stringify(Object.fromEntries(codes))} ` +
        `answers differing from an absent id=${differing}`,
    );
    expect([...codes.keys()]).toEqual(['NOT_FOUND']);
    expect(differing).toBe(0);
  });

  it('keeps planted canary credentials and bodies out of logs, errors and metrics', async () => {
    const marker = randomBytes(4).toString('hex');
    const canaries = {
      driverCredential: `canary-credential-${marker}`,
      callerToken: `mgw_canary${marker}`,
      apiKey: TEST_API_KEY,
      ...mailCanaries(marker),
    };
    const keyed = canaryKeys(canaries);
    const upstream = await FakeUpstream.start(await authority.issue(HOSTNAME), [UPSTREAM]);
    // First a refusal that quotes the message back (as some providers do), then acceptance.
    const refusedOnce = new Set<string>();
    upstream.handler = (request, response) => {
      const key = String(request.headers['idempotency-key']);
      if (refusedOnce.has(key)) return void response.writeHead(202).end('{"id":"ok"}');
      refusedOnce.add(key);
      response.writeHead(503).end(
        JSON.stringify({
          error: `cannot take "${canaries.subject}" for ${canaries.toAddress}@example.org (${canaries.tag}) now`,
        }),
      );
    };
    const port = await freePort();
    const gateway = await GatewayProcess.start({
      ...database.env,
      GRPC_PORT: String(port),
      LOG_LEVEL: 'verbose',
      MAIL_DRIVER: 'http',
      HTTP_DRIVER_URL: `https://${HOSTNAME}:${upstream.port}/send`,
      HTTP_DRIVER_AUTH_VALUE: `Bearer ${canaries.driverCredential}`,
      UPSTREAM_ADDRESSES: `${HOSTNAME}=${UPSTREAM}`,
      UPSTREAM_ALLOW_LOCAL_ADDRESSES: 'true',
      UPSTREAM_CA_FILE: caFile,
      RETRY_BASE_DELAY_MS: '20',
      DELIVERY_POLL_INTERVAL_MS: '20',
    });
    const client = singleAttemptClient(`127.0.0.1:${port}`);
    // A caller with a key the gateway does not know: refused, and its key never repeated.
    const stranger = singleAttemptClient(`127.0.0.1:${port}`, { apiKey: canaries.callerToken });
    try {
      const mail = aCanaryMail(canaries);
      const { messageId } = await client.send(mail, keyed());
      await waitFor('the delivery after one refusal', async () => {
        const message = await client.getMessage({ messageId });
        return message.status === MessageStatus.MESSAGE_STATUS_DELIVERED ? message : undefined;
      });
      const errors: string[] = [];
      for (const bad of [
        aCanaryMail(canaries, { subject: `${canaries.subject}\r\nBcc: x@example.org` }),
        aCanaryMail(canaries, { headers: [{ name: 'X-Campaign', value: `${canaries.headerValue}\n` }] }),
        aCanaryMail(canaries, { to: [{ address: `${canaries.recipientName}@@example.org`, name: '' }] }),
        aCanaryMail(canaries, { from: { address: `${canaries.fromAddress}@@example.com`, name: '' } }),
        aCanaryMail(canaries, { tags: [`${canaries.tag} x`] }),
      ]) {
        await client.send(bad, keyed()).then(
          () => errors.push('accepted'),
          (error: ServiceError) => errors.push(`${status[error.code]} ${error.details}`),
        );
      }
      await stranger.send(mail, keyed()).then(
        () => errors.push('accepted'),
        (error: ServiceError) => errors.push(`${status[error.code]} ${error.details}`),
      );
      const { body: metrics } = await httpGet(`${gateway.metricsUrl}/metrics`);
      // Stopped, the gateway has written every line it held (lines reach stdout in batches).
      gateway.kill('SIGTERM');
      await gateway.exited;

      const places = { logs: gateway.logs, errors: errors.join('\n'), metrics };
      const leaks = Object.entries(places).flatMap(([place, text]) =>
        leakedCanaries(canaries, text).map((canary) => `${canary} in ${place}`),
      );
      console.log(
        `[reliability 9 canaries] canaries=${Object.keys(canaries).length} places=logs,errors,metrics ` +
          `log lines=${gateway.logLines.length} refused calls=${errors.length} leaks=${leaks.length}${leaks.length ? ` (${leaks.join(', ')})` : ''}`,
      );
      expect(errors.slice(0, 5).every((error) => error.startsWith('INVALID_ARGUMENT'))).toBe(true);
      expect(errors[5]).toMatch(/^UNAUTHENTICATED/);
      expect(leaks).toEqual([]);
    } finally {
      client.close();
      stranger.close();
      await gateway.crash();
      await upstream.close();
    }
  });

  it('refuses upstream URLs and addresses on loopback, link-local or metadata addresses at start-up', async () => {
    const refusals: string[] = [];
    for (const env of <Record<string, string>[]>[
      { MAIL_DRIVER: 'http', HTTP_DRIVER_URL: 'https://127.0.0.1/send' },
      { MAIL_DRIVER: 'http', HTTP_DRIVER_URL: 'http://169.254.169.254/latest/meta-data/' },
      { MAIL_DRIVER: 'http', HTTP_DRIVER_URL: 'https://[fd00:ec2::254]/' },
      { SENDGRID_API_URL: 'https://localhost:8443' },
      { FLOWMAILER_TOKEN_URL: 'https://[::1]/oauth/token' },
      { UPSTREAM_ADDRESSES: 'api.sendgrid.com=169.254.10.1' },
    ]) {
      const gateway = GatewayProcess.spawn({ ...database.env, ...env });
      const { code } = await gateway.exited;
      if (code !== 0 && /UPSTREAM_ALLOW_LOCAL_ADDRESSES/.test(gateway.messages))
        refusals.push(Object.keys(env).at(-1)!);
    }
    console.log(`[reliability 9 local upstreams at start-up] configurations=6 refused=${refusals.length}`);
    expect(refusals).toHaveLength(6);
  });

  it('never connects to a hostname that resolves to a loopback address (DNS rebinding)', async () => {
    const upstream = await FakeUpstream.start(await authority.issue(HOSTNAME), [UPSTREAM]);
    const gateway = await startTestGateway(
      {
        ...database.env,
        MAIL_DRIVER: 'http',
        HTTP_DRIVER_URL: `https://${HOSTNAME}:${upstream.port}/send`,
        UPSTREAM_CA_FILE: caFile,
        RETRY_BASE_DELAY_MS: '50',
      },
      { resolver: new StaticHostResolver().set(HOSTNAME, [UPSTREAM]) },
    );
    try {
      const { messageId } = await gateway.client.sendMail(aSendMailRequest());
      const message = await waitFor('a retry to be scheduled', async () => {
        const current = await gateway.client.getMessage({ messageId });
        return current.attempts >= 2 ? current : undefined;
      });
      const reasons = new Set(
        message.events.map((event) => event.detail).filter((detail) => /refused/.test(detail)),
      );
      console.log(
        `[reliability 9 DNS rebinding] attempts=${message.attempts} upstream requests=${upstream.requests.length} ` +
          `connections=${upstream.connectionsOpened}`,
      );
      expect(reasons.size).toBeGreaterThan(0);
      expect(upstream.connectionsOpened).toBe(0);
      expect(upstream.requests).toHaveLength(0);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });
});
