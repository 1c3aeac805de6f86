import { MailGatewayAdminClient, MailGatewayClient } from '@mailgateway/client';
import { Command, Option } from 'commander';
import { connectionOptions } from './connection-options';

/** The root `mailgateway` command with the global options; the command groups add themselves to it. */
export function createCliProgram(): Command {
  return new Command()
    .name('mailgateway')
    .description('Send a test message through a running mailgateway and follow its status.')
    .addOption(
      new Option(
        '--address <target>',
        'gateway gRPC address: host:port, or dns:///host:port for every replica',
      )
        .env('MAILGATEWAY_ADDRESS')
        .default('127.0.0.1:50051'),
    )
    .addOption(
      new Option('--api-key <key>', 'API key sent as "authorization: Bearer <key>"').env(
        'MAILGATEWAY_API_KEY',
      ),
    )
    .addOption(
      new Option(
        '--tls',
        'connect with TLS, trusting the system CAs unless --ca-file (env: MAILGATEWAY_TLS=true)',
      ),
    )
    .addOption(
      new Option('--ca-file <path>', 'PEM CA bundle that signs the gateway certificate (implies --tls)').env(
        'MAILGATEWAY_CA_FILE',
      ),
    )
    .addOption(
      new Option(
        '--cert-file <path>',
        'PEM client certificate for mTLS, with --key-file (implies --tls)',
      ).env('MAILGATEWAY_CERT_FILE'),
    )
    .addOption(new Option('--key-file <path>', 'PEM private key of --cert-file').env('MAILGATEWAY_KEY_FILE'));
}

/** Runs `work` with a MailGateway client for the program's connection options, then closes it. */
export async function withClient<T>(program: Command, work: (client: MailGatewayClient) => Promise<T>) {
  const client = new MailGatewayClient(connectionOptions(program));
  try {
    return await work(client);
  } finally {
    client.close();
  }
}

/** Runs `work` with a MailGatewayAdmin client for the program's connection options, then closes it. */
export async function withAdmin<T>(program: Command, work: (admin: MailGatewayAdminClient) => Promise<T>) {
  const admin = new MailGatewayAdminClient(connectionOptions(program));
  try {
    return await work(admin);
  } finally {
    admin.close();
  }
}
