import { MailGatewayAdminClient } from '@mailgateway/client';
import { Command } from 'commander';
import { connectionOptions } from '../connection-options';
import { duration } from '../options';
import { printErasure } from '../output/erasure';

/** How long the CLI waits for a whole erasure by default: the RPC answers only when it is done. */
const DEFAULT_ERASE_TIMEOUT_MS = 600_000;

/** `erase <address> --reason <text>` (needs an admin key). */
export function addErasureCommands(program: Command): void {
  program
    .command('erase')
    .description(
      'erase a person: shred every message to or from the address, keep only its hash (and its suppressions, as the hash)',
    )
    .argument('<address>')
    .requiredOption(
      '--reason <text>',
      'why, e.g. a ticket reference (up to 500 characters; kept in the erasure record)',
    )
    .option('--timeout <duration>', 'how long to wait for the whole erasure, e.g. 10m', duration)
    .action(async (address: string, options: { reason: string; timeout?: number }) => {
      const admin = new MailGatewayAdminClient({
        ...connectionOptions(program),
        deadlineMs: options.timeout ?? DEFAULT_ERASE_TIMEOUT_MS,
      });
      try {
        printErasure(await admin.eraseAddress({ address, reason: options.reason }));
      } finally {
        admin.close();
      }
    });
}
