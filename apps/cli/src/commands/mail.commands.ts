import { ServiceError, status } from '@grpc/grpc-js';
import {
  CancelMessagesResult,
  isAlreadyCancelled,
  MailGatewayClient,
  MessageStatus,
} from '@mailgateway/client';
import { Command } from 'commander';
import { withClient } from '../cli-program';
import { collect, sendTime } from '../options';
import { printAccepted, printCancelResult, printMessage, printRescheduled } from '../output/messages';

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
/** The most ids one CancelMessages call takes; more are sent in several calls. */
const MAX_CANCEL_IDS = 1_000;
/** Answers that concern one id (and can be printed beside the others); any other ends the command. */
const PER_ID_CODES = new Set<number>([status.NOT_FOUND, status.FAILED_PRECONDITION, status.INVALID_ARGUMENT]);

interface SendOptions {
  to: string[];
  cc: string[];
  bcc: string[];
  from: string;
  subject: string;
  text: string;
  html?: string;
  idempotencyKey?: string;
  at?: Date;
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

/** One CancelMessage call as a CancelMessages result, so one id and many print alike. */
async function cancelOne(client: MailGatewayClient, messageId: string): Promise<CancelMessagesResult> {
  try {
    return { messageId, cancelled: await client.cancelMessage(messageId) };
  } catch (error) {
    const { code, details } = error as ServiceError;
    if (!PER_ID_CODES.has(code)) throw error;
    return { messageId, rejected: { code: status[code], field: 'message_id', reason: details } };
  }
}

async function cancel(client: MailGatewayClient, messageIds: string[]): Promise<CancelMessagesResult[]> {
  if (messageIds.length === 1) return [await cancelOne(client, messageIds[0])];
  const results: CancelMessagesResult[] = [];
  for (let start = 0; start < messageIds.length; start += MAX_CANCEL_IDS) {
    const chunk = messageIds.slice(start, start + MAX_CANCEL_IDS);
    results.push(...(await client.cancelMessages(chunk)).results);
  }
  return results;
}

/** `send`, `status`, `cancel` and `reschedule`: what a service does, with the caller's own key. */
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
    .option(
      '--at <time>',
      'send at this time: ISO 8601 with its zone (2026-12-24T18:00Z) or a delay (+10m, +2h, +1d)',
      sendTime,
    )
    .option('--wait', 'wait until the message reaches a final status and print its history')
    .action((options: SendOptions) =>
      withClient(program, async (client) => {
        const toAddresses = (list: string[]) => list.map((address) => ({ address, name: '' }));
        const accepted = await client.send(
          {
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
          { idempotencyKey: options.idempotencyKey, sendAt: options.at },
        );
        printAccepted(accepted, options.at);
        if (options.wait) printMessage(await waitForFinalStatus(client, accepted.messageId, WAIT_TIMEOUT_MS));
      }),
    );

  program
    .command('status')
    .alias('get')
    .description('print the status, send time (when scheduled) and event history of a message')
    .argument('<message-id>')
    .action((messageId: string) =>
      withClient(program, async (client) => printMessage(await client.getMessage({ messageId }))),
    );

  program
    .command('cancel')
    .description(
      'withdraw messages not yet sent; exits 1 unless every one ends CANCELLED (one already cancelled counts)',
    )
    .argument('<message-id...>')
    .action((messageIds: string[]) =>
      withClient(program, async (client) => {
        const results = await cancel(client, messageIds);
        results.forEach(printCancelResult);
        // Already CANCELLED is the outcome asked for (and what a retried cancel answers).
        if (results.some(({ rejected }) => rejected && !isAlreadyCancelled(rejected))) process.exitCode = 1;
      }),
    );

  program
    .command('reschedule')
    .description('move the send time of a message not yet sent; a time not later than now sends it at once')
    .argument('<message-id>')
    .requiredOption('--at <time>', 'the new send time: as for send --at', sendTime)
    .action((messageId: string, options: { at: Date }) =>
      withClient(program, async (client) =>
        printRescheduled(await client.rescheduleMessage(messageId, options.at)),
      ),
    );
}
