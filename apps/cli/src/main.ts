import { ServiceError, status } from '@grpc/grpc-js';
import { generateApiKey } from '@mailgateway/auth';
import { MailGatewayAdminClient, MailGatewayClient } from '@mailgateway/client';
import { ApiKey, GetMessageResponse, MessageStatus, Source, Timestamp } from '@mailgateway/contracts';
import { Command, Option } from 'commander';

const FINAL_STATUSES = new Set<MessageStatus>([
  MessageStatus.MESSAGE_STATUS_DELIVERED,
  MessageStatus.MESSAGE_STATUS_FAILED,
  MessageStatus.MESSAGE_STATUS_EXPIRED,
  MessageStatus.MESSAGE_STATUS_CANCELLED,
  MessageStatus.MESSAGE_STATUS_SUPPRESSED,
]);

const collect = (value: string, previous: string[]) => [...previous, value];
const shortName = (value: string, prefix: string) => value.replace(prefix, '');
const formatTime = (time: Timestamp | undefined) =>
  time ? new Date(time.seconds * 1000 + Math.floor(time.nanos / 1e6)).toISOString() : '-';

interface GlobalOptions {
  address: string;
  apiKey?: string;
}

function connect(program: Command): MailGatewayClient {
  const { address, apiKey } = program.opts<GlobalOptions>();
  return new MailGatewayClient({ address, apiKey });
}

function connectAdmin(program: Command): MailGatewayAdminClient {
  const { address, apiKey } = program.opts<GlobalOptions>();
  return new MailGatewayAdminClient({ address, apiKey });
}

async function withAdmin(program: Command, work: (admin: MailGatewayAdminClient) => Promise<void>) {
  const admin = connectAdmin(program);
  try {
    await work(admin);
  } finally {
    admin.close();
  }
}

function printKey(key: ApiKey): void {
  const state = key.revokedAt
    ? `revoked ${formatTime(key.revokedAt)}`
    : key.expiresAt
      ? `expires ${formatTime(key.expiresAt)}`
      : 'no expiry';
  const replaced = key.replacedBy ? `, replaced by ${key.replacedBy}` : '';
  console.log(
    `${key.prefix}  ${key.source.padEnd(20)} created ${formatTime(key.createdAt)}  ${state}${replaced}`,
  );
}

function printSource(source: Source): void {
  const policy = source.policy;
  const parts = [
    `roles: ${source.roles.join(', ')}`,
    policy?.allowedFromDomains.length ? `from: ${policy.allowedFromDomains.join(', ')}` : '',
    policy?.maxRecipients ? `max recipients: ${policy.maxRecipients}` : '',
    policy?.rateLimitMessages ? `rate limit: ${policy.rateLimitMessages}/window` : '',
    source.certificateIdentity ? `certificate: ${source.certificateIdentity}` : '',
  ].filter(Boolean);
  console.log(`${source.name.padEnd(20)} ${parts.join('; ')}`);
}

function printNewKey(key: string): void {
  console.log(key);
  console.error("This key is shown only now; store it in the calling service's secret store.");
}

const seconds = (value: string) => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new Error(`not a whole number of seconds: ${value}`);
  return parsed;
};

function printMessage(message: GetMessageResponse): void {
  console.log(
    `${message.messageId} ${shortName(message.status, 'MESSAGE_STATUS_')} ` +
      `(attempts: ${message.attempts}${message.provider ? `, provider: ${message.provider}` : ''})`,
  );
  for (const event of message.events) {
    const type = shortName(event.type, 'MESSAGE_EVENT_TYPE_').padEnd(15);
    console.log(`  ${formatTime(event.occurredAt)}  ${type} ${event.detail}`);
  }
}

async function waitForFinalStatus(client: MailGatewayClient, messageId: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const message = await client.getMessage({ messageId });
    if (FINAL_STATUSES.has(message.status) || Date.now() > deadline) return message;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const program = new Command()
  .name('mailgateway')
  .description('Send a test message through a running mailgateway and follow its status.')
  .addOption(
    new Option('--address <host:port>', 'gateway gRPC address')
      .env('MAILGATEWAY_ADDRESS')
      .default('127.0.0.1:50051'),
  )
  .addOption(
    new Option('--api-key <key>', 'API key sent as "authorization: Bearer <key>"').env('MAILGATEWAY_API_KEY'),
  );

program
  .command('send')
  .description('send one message and print its id')
  .requiredOption('--to <address>', 'recipient (repeat for more)', collect, [])
  .option('--cc <address>', 'copy recipient (repeat for more)', collect, [])
  .option('--bcc <address>', 'blind copy recipient (repeat for more)', collect, [])
  .option('--from <address>', 'sender', 'gateway-cli@example.com')
  .option('--subject <text>', 'subject', 'Test message from mailgateway')
  .option('--text <body>', 'plain-text body', 'Hello from mailgateway.')
  .option('--html <body>', 'HTML body')
  .option('--idempotency-key <key>', 'sending again with the same key returns the same message')
  .option('--wait', 'wait until the message reaches a final status and print its history')
  .action(async (options) => {
    const client = connect(program);
    try {
      const toAddresses = (list: string[]) => list.map((address) => ({ address, name: '' }));
      const accepted = await client.sendMail({
        idempotencyKey: options.idempotencyKey ?? '',
        mail: {
          from: { address: options.from, name: '' },
          to: toAddresses(options.to),
          cc: toAddresses(options.cc),
          bcc: toAddresses(options.bcc),
          replyTo: [],
          subject: options.subject,
          textBody: options.text,
          htmlBody: options.html ?? '',
          headers: [],
          attachments: [],
          tags: [],
          metadata: {},
        },
      });
      console.log(
        `${accepted.replayed ? 'replayed' : 'accepted'} ${accepted.messageId} at ${formatTime(accepted.acceptedAt)}`,
      );
      if (options.wait) printMessage(await waitForFinalStatus(client, accepted.messageId, 30_000));
    } finally {
      client.close();
    }
  });

program
  .command('status')
  .description('print the status and event history of a message')
  .argument('<message-id>')
  .action(async (messageId: string) => {
    const client = connect(program);
    try {
      printMessage(await client.getMessage({ messageId }));
    } finally {
      client.close();
    }
  });

const sourceOptions = (command: Command) =>
  command
    .requiredOption('--role <role>', 'mail.send, mail.read or admin (repeat for more)', collect, [])
    .option('--from-domain <domain>', 'a domain the From address may use (repeat; none: any)', collect, [])
    .option('--max-recipients <n>', "most recipients per message (default: the gateway's)", Number, 0)
    .option('--rate-limit <n>', "messages per rate-limit window (default: the gateway's)", Number, 0)
    .option('--certificate-identity <id>', 'client-certificate CN or URI SAN that authenticates as it', '');

const toSource = (name: string, options: Record<string, unknown>): Source => ({
  name,
  roles: options.role as string[],
  policy: {
    allowedFromDomains: options.fromDomain as string[],
    maxRecipients: options.maxRecipients as number,
    rateLimitMessages: options.rateLimit as number,
  },
  certificateIdentity: options.certificateIdentity as string,
  createdAt: undefined,
  updatedAt: undefined,
});

const sources = program.command('sources').description('manage calling systems (needs an admin key)');
sourceOptions(sources.command('create').description('create a source').argument('<name>')).action(
  (name: string, options: Record<string, unknown>) =>
    withAdmin(program, async (admin) =>
      printSource((await admin.createSource({ source: toSource(name, options) })).source!),
    ),
);
sourceOptions(
  sources.command('update').description('replace the roles and policy of a source').argument('<name>'),
).action((name: string, options: Record<string, unknown>) =>
  withAdmin(program, async (admin) =>
    printSource((await admin.updateSource({ source: toSource(name, options) })).source!),
  ),
);
sources
  .command('list')
  .description('list sources')
  .action(() =>
    withAdmin(program, async (admin) => (await admin.listSources()).sources.forEach(printSource)),
  );

const keys = program.command('keys').description('manage API keys (needs an admin key, except generate)');
keys
  .command('generate')
  .description('print a new random key without contacting a gateway (e.g. for BOOTSTRAP_API_KEY)')
  .action(() => console.log(generateApiKey().key));
keys
  .command('create')
  .description('issue a key for a source and print it once')
  .argument('<source>')
  .option('--expires-in <seconds>', 'lifetime of the key (default: no expiry)', seconds, 0)
  .action((source: string, options: { expiresIn: number }) =>
    withAdmin(program, async (admin) =>
      printNewKey((await admin.createApiKey({ source, expiresInSeconds: options.expiresIn })).key),
    ),
  );
keys
  .command('list')
  .description('list keys (prefixes and state, never secrets)')
  .option('--source <name>', "only this source's keys")
  .action((options: { source?: string }) =>
    withAdmin(program, async (admin) =>
      (await admin.listApiKeys({ source: options.source ?? '' })).apiKeys.forEach(printKey),
    ),
  );
keys
  .command('rotate')
  .description('issue a new key for the same source; the old one expires after the overlap')
  .argument('<prefix>', 'the 12 hex digits after "mgw_"')
  .option(
    '--overlap <seconds>',
    'how long the old key stays valid (default: API_KEY_ROTATION_OVERLAP_MS)',
    seconds,
    0,
  )
  .option('--expires-in <seconds>', 'lifetime of the new key (default: no expiry)', seconds, 0)
  .action((prefix: string, options: { overlap: number; expiresIn: number }) =>
    withAdmin(program, async (admin) => {
      const rotated = await admin.rotateApiKey({
        prefix,
        overlapSeconds: options.overlap,
        expiresInSeconds: options.expiresIn,
      });
      printKey(rotated.previous!);
      printNewKey(rotated.key);
    }),
  );
keys
  .command('revoke')
  .description('refuse a key from now on')
  .argument('<prefix>', 'the 12 hex digits after "mgw_"')
  .action((prefix: string) =>
    withAdmin(program, async (admin) => printKey((await admin.revokeApiKey({ prefix })).apiKey!)),
  );

program.parseAsync().catch((error: unknown) => {
  const grpcError = error as Partial<ServiceError>;
  if (typeof grpcError.code === 'number') {
    console.error(`error: ${status[grpcError.code]}: ${grpcError.details}`);
    if (grpcError.code === status.UNAUTHENTICATED && !program.opts<GlobalOptions>().apiKey) {
      console.error('Set MAILGATEWAY_API_KEY (or --api-key) to a key; see "API keys" in the README.');
    }
  } else {
    console.error(`error: ${(error as Error).message ?? String(error)}`);
  }
  process.exitCode = 1;
});
