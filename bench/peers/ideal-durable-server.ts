// The accept ceiling: a grpc-js server for the same contract whose SendMail commits the message
// to PostgreSQL before it answers, with nothing else: group commit (calls that arrive while a
// commit runs share the next one), ONE INSERT per group into the gateway's own outbox_message
// table, each statement its own transaction (synchronous_commit on: the OK waits for the fsync).
// `lookup` adds one SELECT by primary key per call before it joins a group, as a gateway that
// checks a key per call would.
//   node ideal-durable-server.js PORT DATABASE_URL insert|lookup
import { randomUUID } from 'node:crypto';
import { loadSync } from '@grpc/proto-loader';
import {
  loadPackageDefinition,
  Server,
  ServerCredentials,
  ServerUnaryCall,
  ServiceClientConstructor,
} from '@grpc/grpc-js';
import { Pool } from 'pg';
import { INSERT_MESSAGES, MailFields, messageColumnArrays, messageValues } from '../outbox-rows';
import { PROTO_FILE, PROTO_LOADER_OPTIONS } from '../proto';

const [port, databaseUrl, variant] = process.argv.slice(2);
const definition = loadPackageDefinition(loadSync(PROTO_FILE, PROTO_LOADER_OPTIONS)) as unknown as {
  mailgateway: { v1: { MailGateway: ServiceClientConstructor } };
};
// As many connections as the gateway's pool (DATABASE_POOL_SIZE's default).
const pool = new Pool({ connectionString: databaseUrl, max: 10, options: '-c synchronous_commit=on' });

interface Waiting {
  readonly values: unknown[];
  resolve(): void;
  reject(error: unknown): void;
}
let waiting: Waiting[] = [];
let committing = false;

/** Resolves once the row is committed; a failed commit fails every caller in its group. */
function commit(values: unknown[]): Promise<void> {
  return new Promise((resolve, reject) => {
    waiting.push({ values, resolve, reject });
    if (!committing) void commitGroups();
  });
}

async function commitGroups(): Promise<void> {
  committing = true;
  while (waiting.length > 0) {
    const group = waiting;
    waiting = [];
    try {
      await pool.query(INSERT_MESSAGES, messageColumnArrays(group.map(({ values }) => values)));
      for (const caller of group) caller.resolve();
    } catch (error) {
      for (const caller of group) caller.reject(error);
    }
  }
  committing = false;
}

type Callback = (error: Error | null, response?: unknown) => void;
interface SendMailRequest {
  readonly idempotencyKey: string;
  readonly mail: MailFields;
}

async function sendMail({ idempotencyKey, mail }: SendMailRequest): Promise<unknown> {
  if (variant === 'lookup') {
    await pool.query('SELECT id FROM outbox_message WHERE id = $1', [randomUUID()]);
  }
  const now = Date.now();
  const values = messageValues(mail, idempotencyKey, now);
  await commit(values);
  return {
    messageId: values[0],
    acceptedAt: { seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1_000_000 },
    replayed: false,
  };
}

const server = new Server({ 'grpc.max_receive_message_length': 11 * 1024 * 1024 });
server.addService(definition.mailgateway.v1.MailGateway.service, {
  sendMail: (call: ServerUnaryCall<SendMailRequest, unknown>, callback: Callback) => {
    sendMail(call.request).then(
      (response) => callback(null, response),
      (error: Error) => callback(error),
    );
  },
});
server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error) => {
  if (error) throw error;
  console.log('listening');
});
process.on('SIGTERM', () => {
  server.forceShutdown();
  void pool.end().then(() => process.exit(0));
});
