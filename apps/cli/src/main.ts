import { ServiceError, status } from '@grpc/grpc-js';
import { createCliProgram } from './cli-program';
import { GlobalOptions } from './connection-options';
import { addErasureCommands } from './commands/erasure.commands';
import { addContentKeyCommands } from './commands/content-keys.commands';
import { addEventCommands } from './commands/events.commands';
import { addKeyCommands } from './commands/keys.commands';
import { addMailCommands } from './commands/mail.commands';
import { addSourceCommands } from './commands/sources.commands';
import { addSuppressionCommands } from './commands/suppressions.commands';

const program = createCliProgram();
addMailCommands(program);
addEventCommands(program);
addSourceCommands(program);
addKeyCommands(program);
addSuppressionCommands(program);
addErasureCommands(program);
addContentKeyCommands(program);

// Usage errors (unknown option, bad number...) are commander's: it prints them and exits 1 itself.
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
