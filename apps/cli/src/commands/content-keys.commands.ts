import { Command } from 'commander';
import { withAdmin } from '../cli-program';
import { MAX_REWRAP_BATCH, rewrapBatch } from '../options';

/** `content-keys rewrap` (needs an admin key). */
export function addContentKeyCommands(program: Command): void {
  const contentKeys = program
    .command('content-keys')
    .description('the keys message content is sealed with at rest (needs an admin key)');

  contentKeys
    .command('rewrap')
    .description(
      'move every stored message and the gateway secrets to the newest content key (and seal messages stored before encryption), a batch per call, until none is left; run it once every replica has the new key ring: a replica without the newest key cannot start afterwards',
    )
    .option('--batch <count>', `messages per call, 1 to ${MAX_REWRAP_BATCH}`, rewrapBatch, 1000)
    .action((options: { batch: number }) =>
      withAdmin(program, async (admin) => {
        let total = 0;
        for (;;) {
          const { keyId, rewrapped, remaining } = await admin.rewrapContentKeys({ limit: options.batch });
          total += rewrapped;
          console.log(`rewrapped ${rewrapped} (total ${total}) to key ${keyId}; ${remaining} remaining`);
          if (remaining === 0) return;
          if (rewrapped === 0) {
            // Locked by another run, or not readable: more calls would find the same.
            console.error(
              `${remaining} messages could not be re-wrapped now (another re-wrap holds them, or their content does not open); run again later`,
            );
            process.exitCode = 1;
            return;
          }
        }
      }),
    );
}
