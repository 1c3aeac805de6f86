import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import {
  freePort,
  GatewayProcess,
  provisionTestDatabase,
  TEST_API_KEY,
  TestDatabase,
  waitFor,
} from '@mailgateway/testing';

const run = promisify(execFile);
const ROOT = join(__dirname, '..');
const PACKAGE = join(ROOT, 'dist/packages/client');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const PROTO_FILES = [
  'proto/google/rpc/error_details.proto',
  'proto/google/rpc/status.proto',
  'proto/mailgateway/v1/admin.proto',
  'proto/mailgateway/v1/mail_gateway.proto',
];

/** What another team writes: plain Node, the installed package, a send and its read-back. */
const SEND_SCRIPT = `
const { MailGatewayClient, MessageStatus } = require('@mailgateway/client');

async function main() {
  const client = new MailGatewayClient({ address: process.env.ADDRESS, apiKey: process.env.API_KEY });
  const { messageId } = await client.send({
    from: { address: 'billing@example.com', name: 'Billing' },
    to: [{ address: 'ada@example.org', name: 'Ada' }],
    cc: [], bcc: [], replyTo: [], subject: 'From the package', textBody: 'Hello', htmlBody: '',
    headers: [], attachments: [], tags: [], metadata: {},
  });
  for (;;) {
    const message = await client.getMessage({ messageId });
    if (message.status === MessageStatus.MESSAGE_STATUS_DELIVERED) {
      console.log(JSON.stringify({ messageId, status: message.status, events: message.events.map((e) => e.type) }));
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  client.close();
}
main().catch((error) => { console.error(error); process.exit(1); });
`;

/** The same use, typed against the shipped declarations. */
const TYPED_USE = `
import { readFileSync } from 'node:fs';
import {
  GatewayClientOptions,
  GetMessageResponse,
  Mail,
  MailGatewayAdminClient,
  MailGatewayClient,
  MessageStatus,
  PROTO_ROOT,
} from '@mailgateway/client';

const options: GatewayClientOptions = {
  address: 'dns:///mailgateway-headless.mail.svc.cluster.local:50051',
  loadBalancing: 'round_robin',
  apiKey: 'mgw_...',
  tls: { ca: readFileSync('ca.crt'), cert: readFileSync('client.crt'), key: readFileSync('client.key') },
  keepalive: { timeMs: 30_000, timeoutMs: 5_000 },
  deadlineMs: 5_000,
  retry: { maxAttempts: 3 },
};
const mail: Mail = {
  from: { address: 'billing@example.com', name: '' },
  to: [{ address: 'ada@example.org', name: '' }],
  cc: [], bcc: [], replyTo: [], subject: 's', textBody: 't', htmlBody: '',
  headers: [], attachments: [], tags: [], metadata: {},
};

export async function sendAndRead(): Promise<boolean> {
  const client = new MailGatewayClient(options);
  const { messageId, replayed } = await client.send(mail, { idempotencyKey: 'invoice-1', deadlineMs: 1_000 });
  const message: GetMessageResponse = await client.getMessage({ messageId });
  const sources = await new MailGatewayAdminClient(options).listSources();
  return replayed && message.status === MessageStatus.MESSAGE_STATUS_DELIVERED && sources.sources.length > 0;
}
export const protoRoot: string = PROTO_ROOT;
`;

/** A mistake the declarations must catch: an idempotency key given as a number. */
const TYPE_ERROR = `
import { MailGatewayClient } from '@mailgateway/client';
new MailGatewayClient({ address: 'localhost:50051' }).sendMail({ mail: undefined, idempotencyKey: 7 });
`;

function files(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(folder, entry.name)) : [join(folder, entry.name)],
  );
}

/** Packages the package's JavaScript loads, by name. */
function loadedPackages(folder: string): string[] {
  const names = files(folder)
    .filter((file) => file.endsWith('.js'))
    .flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/\brequire\("([^".][^"]*)"\)/g)])
    .map(([, specifier]) =>
      specifier
        .split('/')
        .slice(0, specifier.startsWith('@') ? 2 : 1)
        .join('/'),
    )
    .filter((name) => !name.startsWith('node:'));
  return [...new Set(names)].sort();
}

describe('The @mailgateway/client package, packed and installed in a project of its own', () => {
  let folder: string;
  let tarball: string;
  let unpacked: string;
  let project: string;
  let database: TestDatabase;
  let gateway: GatewayProcess;
  let address: string;

  beforeAll(async () => {
    if (!existsSync(join(PACKAGE, 'package.json'))) {
      throw new Error(`${PACKAGE} is missing: run \`npm run build\` first`);
    }
    folder = await mkdtemp(join(tmpdir(), 'mailgateway-client-package-'));
    const { stdout } = await run('npm', ['pack', PACKAGE, '--pack-destination', folder, '--json'], {
      cwd: folder,
    });
    tarball = join(folder, (JSON.parse(stdout) as { filename: string }[])[0].filename);
    unpacked = join(folder, 'unpacked');
    await mkdir(unpacked);
    await run('tar', ['-xzf', tarball, '-C', unpacked]);

    project = join(folder, 'project');
    await mkdir(project);
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'scratch', private: true }));
    await run('npm', ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline'], {
      cwd: project,
      timeout: 240_000,
    });

    database = await provisionTestDatabase('sqlite');
    const port = await freePort();
    address = `127.0.0.1:${port}`;
    gateway = await GatewayProcess.start({
      ...database.env,
      GRPC_PORT: String(port),
      DELIVERY_POLL_INTERVAL_MS: '20',
    });
  }, 300_000);

  afterAll(async () => {
    if (gateway) {
      gateway.kill('SIGTERM');
      await gateway.exited;
    }
    await database?.drop();
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  it('holds its code, type declarations and proto files, and depends only on what its code loads', () => {
    const contents = files(join(unpacked, 'package')).map((file) =>
      relative(join(unpacked, 'package'), file),
    );
    expect(contents).toEqual(
      expect.arrayContaining(['package.json', 'README.md', 'lib/index.js', 'lib/index.d.ts', ...PROTO_FILES]),
    );
    expect(contents.filter((file) => file.endsWith('.spec.js') || file.endsWith('.ts.map'))).toEqual([]);

    const manifest = JSON.parse(readFileSync(join(unpacked, 'package/package.json'), 'utf8')) as {
      name: string;
      dependencies: Record<string, string>;
    };
    expect(manifest.name).toBe('@mailgateway/client');
    expect(Object.keys(manifest.dependencies).sort()).toEqual(loadedPackages(join(unpacked, 'package/lib')));
    expect(Object.keys(manifest.dependencies).sort()).toEqual([
      '@grpc/grpc-js',
      '@grpc/proto-loader',
      'protobufjs',
    ]);
  });

  it('references no NestJS, rxjs or unpublished @mailgateway module, in code or declarations', () => {
    const shipped = files(join(unpacked, 'package/lib'))
      .map((file) => readFileSync(file, 'utf8'))
      .join('\n');
    expect(shipped).not.toMatch(/@nestjs|rxjs|@mailgateway\//);
    for (const name of ['@nestjs', 'rxjs']) {
      expect(existsSync(join(project, 'node_modules', name))).toBe(false);
    }
  });

  it('sends through a running gateway and reads the message back, from plain Node', async () => {
    await writeFile(join(project, 'send.js'), SEND_SCRIPT);

    const { stdout, stderr } = await run(process.execPath, ['send.js'], {
      cwd: project,
      env: { PATH: process.env.PATH, ADDRESS: address, API_KEY: TEST_API_KEY },
      timeout: 30_000,
    });

    expect(stderr).toBe('');
    const result = JSON.parse(stdout) as { messageId: string; status: string; events: string[] };
    expect(result.status).toBe('MESSAGE_STATUS_DELIVERED');
    expect(result.events).toEqual([
      'MESSAGE_EVENT_TYPE_ACCEPTED',
      'MESSAGE_EVENT_TYPE_ATTEMPT_STARTED',
      'MESSAGE_EVENT_TYPE_DELIVERED',
    ]);
    // The call's log line names the message (lines reach stdout in batches, within 100 ms).
    await waitFor('the call log line naming the message', () =>
      gateway.logs.includes(result.messageId) ? true : undefined,
    );
  });

  describe.each(['node16', 'node10'])(
    'type declarations, resolved as moduleResolution %s does',
    (resolution) => {
      /** The repository's tsc on one file of the scratch project, with Node's types from the repository. */
      const typeCheck = async (name: string, source: string) => {
        await writeFile(join(project, name), source);
        const module = resolution === 'node16' ? 'node16' : 'commonjs';
        return run(
          process.execPath,
          [
            TSC,
            '--noEmit',
            '--strict',
            '--module',
            module,
            '--moduleResolution',
            resolution,
            '--target',
            'ES2022',
            '--types',
            'node',
            '--typeRoots',
            join(ROOT, 'node_modules/@types'),
            name,
          ],
          { cwd: project },
        ).then(
          () => ({ code: 0, output: '' }),
          (error: { code: number; stdout: string }) => ({ code: error.code, output: error.stdout }),
        );
      };

      it('type-check a typed use of the clients, options and messages', async () => {
        expect(await typeCheck(`typed-use-${resolution}.ts`, TYPED_USE)).toEqual({ code: 0, output: '' });
      });

      it('refuse a request of the wrong shape', async () => {
        const result = await typeCheck(`type-error-${resolution}.ts`, TYPE_ERROR);
        expect(result.code).not.toBe(0);
        expect(result.output).toMatch(/error TS2322: Type 'number' is not assignable to type 'string'/);
      });
    },
  );
});
