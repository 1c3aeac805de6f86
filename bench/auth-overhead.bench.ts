// Per-call cost of authentication + rate limiting: SendMail through the real gateway with the real
// guards (key lookup in the database, counters in memory or Redis) against the same gateway with
// both guards replaced by stubs that attach a fixed principal. Prints figures; asserts nothing.
import { Metadata } from '@grpc/grpc-js';
import { ExecutionContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { attachPrincipal, AuthGuard, Principal, Role, SuppressedRecipientsMode } from '@mailgateway/auth';
import { MailGatewayClient } from '@mailgateway/client';
import {
  aSendMailRequest,
  freePort,
  provisionTestDatabase,
  TEST_API_KEY,
  TEST_AUTH_ENV,
  testRedisUrl,
  uniqueRedisPrefix,
} from '@mailgateway/testing';
import { RpcThrottlerGuard } from '@mailgateway/throttling';
import {
  configureGatewayApp,
  createGatewayObservability,
  GatewayModule,
  grpcServerOptions,
  loadGatewayConfig,
} from '@mailgateway/gateway';

const CALLS = Number(process.env.BENCH_CALLS ?? 3000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);

const principal: Principal = {
  source: 'dev',
  roles: new Set([Role.MailSend, Role.MailRead, Role.Admin]),
  policy: {
    allowedFromDomains: [],
    maxRecipients: null,
    rateLimitMessages: null,
    suppressedRecipients: SuppressedRecipientsMode.Drop,
  },
  credential: { kind: 'api-key', prefix: TEST_API_KEY.slice(4, 16) },
};
const stubAuth = {
  canActivate: (context: ExecutionContext) => {
    attachPrincipal(context.switchToRpc().getContext<Metadata>(), principal);
    return true;
  },
};

type Variant =
  'no auth, no limits' | 'auth + memory limits' | 'auth + Redis limits' | 'auth (1 s cache) + Redis';

async function measure(env: Record<string, string>, variant: Variant) {
  const port = await freePort();
  const config = loadGatewayConfig({
    ...TEST_AUTH_ENV,
    ...env,
    GRPC_PORT: String(port),
    DELIVERY_ENABLED: 'false',
    LOG_LEVEL: 'error',
    RATE_LIMIT_SOURCE_MESSAGES: '100000000',
    RATE_LIMIT_GLOBAL_MESSAGES: '100000000',
    ...(variant === 'auth + Redis limits'
      ? { REDIS_URL: testRedisUrl(), REDIS_KEY_PREFIX: uniqueRedisPrefix() }
      : {}),
  });
  const observability = createGatewayObservability(config);
  let builder = Test.createTestingModule({ imports: [GatewayModule.forRoot(config, observability)] });
  if (variant === 'no auth, no limits') {
    builder = builder
      .overrideGuard(AuthGuard)
      .useValue(stubAuth)
      .overrideGuard(RpcThrottlerGuard)
      .useValue({ canActivate: () => true });
  }
  const app = configureGatewayApp(
    (await builder.compile()).createNestMicroservice(grpcServerOptions(config, observability)),
  );
  await app.listen();
  const client = new MailGatewayClient({ address: `127.0.0.1:${port}`, apiKey: TEST_API_KEY });
  try {
    for (let i = 0; i < 300; i++) await client.sendMail(aSendMailRequest());
    // Sequential: latency per call.
    let started = process.hrtime.bigint();
    for (let i = 0; i < CALLS / 3; i++) await client.sendMail(aSendMailRequest());
    const sequentialUs = Number(process.hrtime.bigint() - started) / 1000 / (CALLS / 3);
    // Concurrent: calls per second.
    let next = 0;
    started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next++ < CALLS) await client.sendMail(aSendMailRequest());
      }),
    );
    const perSecond = CALLS / (Number(process.hrtime.bigint() - started) / 1e9);
    return { sequentialUs, perSecond };
  } finally {
    client.close();
    await app.close();
  }
}

describe('Per-call cost of authentication and rate limiting (SendMail)', () => {
  it.each(['sqlite', 'postgres'] as const)('on %s', async (kind) => {
    const database = await provisionTestDatabase(kind);
    try {
      const rows: string[] = [];
      const variants: Variant[] = [
        'no auth, no limits',
        'auth + memory limits',
        'auth + Redis limits',
        'auth (1 s cache) + Redis',
      ];
      // Two rounds, interleaved, so drift in the machine's load hits every variant alike.
      const results = new Map<Variant, { sequentialUs: number; perSecond: number }[]>();
      for (let round = 0; round < 2; round++) {
        for (const variant of variants) {
          const result = await measure(database.env, variant);
          results.set(variant, [...(results.get(variant) ?? []), result]);
        }
      }
      const best = (variant: Variant) => {
        const runs = results.get(variant)!;
        return {
          sequentialUs: Math.min(...runs.map((run) => run.sequentialUs)),
          perSecond: Math.max(...runs.map((run) => run.perSecond)),
        };
      };
      const baseline = best('no auth, no limits');
      for (const variant of variants) {
        const { sequentialUs, perSecond } = best(variant);
        rows.push(
          `${kind.padEnd(8)} ${variant.padEnd(25)} ${sequentialUs.toFixed(0).padStart(6)} µs/call sequential` +
            ` (+${(sequentialUs - baseline.sequentialUs).toFixed(0)} µs)` +
            `  ${perSecond.toFixed(0).padStart(6)} calls/s at ${CONCURRENCY} in flight` +
            ` (${((perSecond / baseline.perSecond) * 100).toFixed(0)}% of baseline)`,
        );
      }
      process.stdout.write(`\n${rows.join('\n')}\n`);
    } finally {
      await database.drop();
    }
  });
});
