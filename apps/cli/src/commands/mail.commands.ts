import { MailGatewayClient, MessageStatus } from '@mailgateway/client';
import { Command } from 'commander';
import { withClient } from '../cli-program';
import { collect } from '../options';
import { printAccepted, printMessage } from '../output/messages';

const FINAL_STATUSES = new Set<MessageStatus>([
  MessageStatus.MESSAGE_STATUS_DELIVERED,
  MessageStatus.MESSAGE_STATUS_FAILED,
  MessageStatus.MESSAGE_STATUS_EXPIRED,
  MessageStatus.MESSAGE_STATUS_CANCELLED,
  MessageStatus.MESSAGE_STATUS_SUPPRESSED,
]);

/** How long `send --wait` follows a message before printing whatever status it has. */
const WAIT_TIMEOUT_MS = 30_000;
const WAIT_POLL_INTERVAL_MS = 200;

interface SendOptions {
  to: string[];
  cc: string[];
  bcc: string[];
  from: string;
  subject: string;
  text: string;
  html?: string;
  idempotencyKey?: string;
  wait?: boolean;
}

async function waitForFinalStatus(client: MailGatewayClient, messageId: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const message = await client.getMessage({ messageId });
    if (FINAL_STATUSES.has(message.status) || Date.now() > deadline) return message;
    await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_INTERVAL_MS));
  }
}

/** `send` and `status`: what a service does, with the caller's own key. */
export function addMailCommands(program: Command): void {
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
    .action((options: SendOptions) =>
      withClient(program, async (client) => {
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
        printAccepted(accepted);
        if (options.wait) printMessage(await waitForFinalStatus(client, accepted.messageId, WAIT_TIMEOUT_MS));
      }),
    );

  program
    .command('status')
    .description('print the status and event history of a message')
    .argument('<message-id>')
    .action((messageId: string) =>
      withClient(program, async (client) => printMessage(await client.getMessage({ messageId }))),
    );
}
