import { Source, SuppressedRecipients } from '@mailgateway/client';
import { Command, Option } from 'commander';
import { withAdmin } from '../cli-program';
import { collect, count, retentionSeconds } from '../options';
import { printSource } from '../output/sources';

interface SourceOptions {
  role: string[];
  fromDomain: string[];
  maxRecipients: number;
  rateLimit: number;
  driver: string[];
  certificateIdentity: string;
  suppressedRecipients?: 'drop' | 'refuse';
  bodyRetention?: number;
  historyRetention?: number;
}

const SUPPRESSED_RECIPIENTS = {
  drop: SuppressedRecipients.SUPPRESSED_RECIPIENTS_DROP,
  refuse: SuppressedRecipients.SUPPRESSED_RECIPIENTS_REFUSE,
} as const;

/** The options of `create` and `update`: the whole definition, since update replaces it. */
const sourceOptions = (command: Command) =>
  command
    .requiredOption('--role <role>', 'mail.send, mail.read or admin (repeat for more)', collect, [])
    .option('--from-domain <domain>', 'a domain the From address may use (repeat; none: any)', collect, [])
    .option('--max-recipients <n>', "most recipients per message (default: the gateway's)", count, 0)
    .option('--rate-limit <n>', "messages per rate-limit window (default: the gateway's)", count, 0)
    .option(
      '--driver <name>',
      "a driver for its mail, in order: the next takes over after failures (repeat; none: the gateway's)",
      collect,
      [],
    )
    .addOption(
      new Option(
        '--suppressed-recipients <mode>',
        'a recipient on the suppression list: drop it, or refuse the message (default: drop)',
      ).choices(Object.keys(SUPPRESSED_RECIPIENTS)),
    )
    .option(
      '--body-retention <seconds>',
      "seconds a final message keeps its content; 0 shreds it at once (default: the gateway's)",
      retentionSeconds,
    )
    .option(
      '--history-retention <seconds>',
      "seconds a final message is kept at all, at least 3600 (default: the gateway's)",
      retentionSeconds,
    )
    .option('--certificate-identity <id>', 'client-certificate CN or URI SAN that authenticates as it', '');

const toSource = (name: string, options: SourceOptions): Source => ({
  name,
  roles: options.role,
  policy: {
    allowedFromDomains: options.fromDomain,
    maxRecipients: options.maxRecipients,
    rateLimitMessages: options.rateLimit,
    drivers: options.driver,
    suppressedRecipients: options.suppressedRecipients
      ? SUPPRESSED_RECIPIENTS[options.suppressedRecipients]
      : SuppressedRecipients.SUPPRESSED_RECIPIENTS_UNSPECIFIED,
    // Left out: the gateway's setting. Given, even 0, it is the source's own.
    bodyRetentionSeconds: options.bodyRetention,
    historyRetentionSeconds: options.historyRetention,
  },
  certificateIdentity: options.certificateIdentity,
  createdAt: undefined,
  updatedAt: undefined,
});

/** `sources create|update|list` (needs an admin key). */
export function addSourceCommands(program: Command): void {
  const sources = program.command('sources').description('manage calling systems (needs an admin key)');

  sourceOptions(sources.command('create').description('create a source').argument('<name>')).action(
    (name: string, options: SourceOptions) =>
      withAdmin(program, async (admin) =>
        printSource((await admin.createSource({ source: toSource(name, options) })).source!),
      ),
  );

  sourceOptions(
    sources.command('update').description('replace the roles and policy of a source').argument('<name>'),
  ).action((name: string, options: SourceOptions) =>
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
}
