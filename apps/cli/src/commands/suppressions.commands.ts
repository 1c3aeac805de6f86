import { SuppressionReason } from '@mailgateway/client';
import { Command } from 'commander';
import { withAdmin } from '../cli-program';
import { duration } from '../options';
import { printNotSuppressed, printSuppression, printSuppressionJson } from '../output/suppressions';

/** Entries per ListSuppressions call: the contract's largest page. */
const LIST_PAGE_SIZE = 1000;

/** `suppressions list|check|add|remove` (needs an admin key). */
export function addSuppressionCommands(program: Command): void {
  const suppressions = program
    .command('suppressions')
    .description('the addresses the gateway does not send to (needs an admin key)');

  suppressions
    .command('list')
    .description('list suppressed addresses, by address then scope')
    .option('--scope <scope>', '"*" or a source name (default: every scope)')
    .option('--prefix <text>', 'only addresses starting with this')
    .option('--json', 'one JSON object per entry and line')
    .action((options: { scope?: string; prefix?: string; json?: boolean }) =>
      withAdmin(program, async (admin) => {
        const print = options.json ? printSuppressionJson : printSuppression;
        let pageToken = '';
        do {
          const page = await admin.listSuppressions({
            scope: options.scope ?? '',
            addressPrefix: options.prefix ?? '',
            pageSize: LIST_PAGE_SIZE,
            pageToken,
          });
          page.suppressions.forEach(print);
          pageToken = page.nextPageToken;
        } while (pageToken !== '');
      }),
    );

  suppressions
    .command('check')
    .description('say which addresses a source may not send to, and why')
    .requiredOption('--source <name>', 'the source the mail would come from')
    .argument('<address...>')
    .action((addresses: string[], options: { source: string }) =>
      withAdmin(program, async (admin) => {
        const { suppressions: found } = await admin.checkSuppressions({ source: options.source, addresses });
        const byAddress = new Map(found.map((suppression) => [suppression.address, suppression]));
        for (const address of new Set(addresses.map((each) => each.toLowerCase()))) {
          const suppression = byAddress.get(address);
          if (suppression) printSuppression(suppression);
          else printNotSuppressed(address);
        }
      }),
    );

  suppressions
    .command('add')
    .description('suppress an address by hand (or replace the note and expiry of a manual entry)')
    .argument('<address>')
    .option('--scope <scope>', '"*" (every source) or a source name', '*')
    .option('--note <text>', 'why, e.g. a ticket number (up to 500 characters)', '')
    .option('--expires-in <duration>', 'lapse after this long, e.g. 30d or 12h (default: never)', duration)
    .action((address: string, options: { scope: string; note: string; expiresIn?: number }) =>
      withAdmin(program, async (admin) => {
        const expiresAt = options.expiresIn === undefined ? undefined : Date.now() + options.expiresIn;
        const { suppression } = await admin.addSuppression({
          suppression: {
            address,
            scope: options.scope,
            reason: SuppressionReason.SUPPRESSION_REASON_UNSPECIFIED,
            origin: options.note,
            createdAt: undefined,
            expiresAt:
              expiresAt === undefined
                ? undefined
                : { seconds: Math.floor(expiresAt / 1000), nanos: (expiresAt % 1000) * 1_000_000 },
          },
        });
        printSuppression(suppression!);
      }),
    );

  suppressions
    .command('remove')
    .description('lift a suppression (a complaint or unsubscribe needs --force and --reason)')
    .argument('<address>')
    .option('--scope <scope>', '"*" (every source) or a source name', '*')
    .option('--force', 'lift a complaint or an unsubscribe: the recipient asked not to get mail')
    .option(
      '--reason <text>',
      'why it is lifted (needed with --force; logged with a hash of the address)',
      '',
    )
    .action((address: string, options: { scope: string; force?: boolean; reason: string }) =>
      withAdmin(program, async (admin) => {
        const { suppression } = await admin.removeSuppression({
          address,
          scope: options.scope,
          force: options.force ?? false,
          reason: options.reason,
        });
        printSuppression(suppression!);
      }),
    );
}
