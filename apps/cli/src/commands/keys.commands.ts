import { Command } from 'commander';
import { newApiKey } from '../api-key';
import { withAdmin } from '../cli-program';
import { seconds } from '../options';
import { printKey, printNewKey } from '../output/keys';

/** `keys generate|create|list|rotate|revoke` (an admin key for all but generate). */
export function addKeyCommands(program: Command): void {
  const keys = program.command('keys').description('manage API keys (needs an admin key, except generate)');

  keys
    .command('generate')
    .description('print a new random key without contacting a gateway (e.g. for BOOTSTRAP_API_KEY)')
    .action(() => console.log(newApiKey()));

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
}
