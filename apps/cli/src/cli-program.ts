import { MailGatewayAdminClient, MailGatewayClient } from '@mailgateway/client';
import { Command, Option } from 'commander';

/** The options every command shares, set on the root command. */
export interface GlobalOptions {
  address: string;
  apiKey?: string;
}

/** The root `mailgateway` command with the global options; the command groups add themselves to it. */
export function createCliProgram(): Command {
  return new Command()
    .name('mailgateway')
    .description('Send a test message through a running mailgateway and follow its status.')
    .addOption(
      new Option('--address <host:port>', 'gateway gRPC address')
        .env('MAILGATEWAY_ADDRESS')
        .default('127.0.0.1:50051'),
    )
    .addOption(
      new Option('--api-key <key>', 'API key sent as "authorization: Bearer <key>"').env(
        'MAILGATEWAY_API_KEY',
      ),
    );
}

/** Runs `work` with a MailGateway client for the program's address and key, then closes it. */
export async function withClient<T>(program: Command, work: (client: MailGatewayClient) => Promise<T>) {
  const { address, apiKey } = program.opts<GlobalOptions>();
  const client = new MailGatewayClient({ address, apiKey });
  try {
    return await work(client);
  } finally {
    client.close();
  }
}

/** Runs `work` with a MailGatewayAdmin client for the program's address and key, then closes it. */
export async function withAdmin<T>(program: Command, work: (admin: MailGatewayAdminClient) => Promise<T>) {
  const { address, apiKey } = program.opts<GlobalOptions>();
  const admin = new MailGatewayAdminClient({ address, apiKey });
  try {
    return await work(admin);
  } finally {
    admin.close();
  }
}
