import { ServiceError, status } from '@grpc/grpc-js';
import { MailGatewayClient } from '@mailgateway/client';
import { GetMessageResponse, MessageStatus, Timestamp } from '@mailgateway/contracts';
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

function connect(program: Command): MailGatewayClient {
  const { address } = program.opts<{ address: string }>();
  return new MailGatewayClient({ address });
}

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

program.parseAsync().catch((error: unknown) => {
  const grpcError = error as Partial<ServiceError>;
  if (typeof grpcError.code === 'number') {
    console.error(`error: ${status[grpcError.code]}: ${grpcError.details}`);
  } else {
    console.error(`error: ${(error as Error).message ?? String(error)}`);
  }
  process.exitCode = 1;
});
