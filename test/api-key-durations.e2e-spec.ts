import {
  Client,
  credentials,
  GrpcObject,
  loadPackageDefinition,
  Metadata,
  ServiceClientConstructor,
  ServiceError,
  status,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import {
  ApiKey,
  MAIL_GATEWAY_ADMIN_PROTO_PATH,
  PROTO_LOADER_OPTIONS,
  Timestamp,
} from '@mailgateway/contracts';
import { DATABASE_KINDS, TEST_API_KEY } from '@mailgateway/testing';
import { gatewayForAllTests } from './support/test-gateway';

const MAX_LIFETIME_SECONDS = 3_650 * 86_400;
const MAX_OVERLAP_SECONDS = 30 * 86_400;
const DAY_MS = 86_400_000;

/** Values over each cap, as decimal strings so the wire carries them exactly (uint64). */
const tooLong = (cap: number): [string, string][] => [
  ['2^64 - 1', (2n ** 64n - 1n).toString()],
  ['10^12', '1000000000000'],
  ['the cap + 1', String(cap + 1)],
];

type Callback = (error: ServiceError | null, response?: unknown) => void;
type RawClient = Client & Record<string, (request: object, metadata: Metadata, done: Callback) => void>;

/**
 * A raw client of MailGatewayAdmin: a typed client would take the uint64 fields as JS numbers, which
 * cannot hold 2^64 - 1, so these requests are built from the proto alone (uint64 as decimal strings).
 */
function rawAdmin(address: string) {
  const tree = loadPackageDefinition(loadSync(MAIL_GATEWAY_ADMIN_PROTO_PATH, PROTO_LOADER_OPTIONS));
  const { MailGatewayAdmin } = (tree.mailgateway as GrpcObject).v1 as GrpcObject;
  const client = new (MailGatewayAdmin as ServiceClientConstructor)(
    address,
    credentials.createInsecure(),
  ) as RawClient;
  const call = <T>(method: string, request: object) =>
    new Promise<T>((resolve, reject) => {
      const metadata = new Metadata();
      metadata.set('authorization', `Bearer ${TEST_API_KEY}`);
      client[method](request, metadata, (error, response) =>
        error ? reject(error) : resolve(response as T),
      );
    });
  return { call, close: () => client.close() };
}

async function refusal(call: Promise<unknown>): Promise<ServiceError> {
  return call.then(
    (response) => {
      throw new Error(`expected INVALID_ARGUMENT, got ${JSON.stringify(response)}`);
    },
    (error: ServiceError) => error,
  );
}

const expiryMs = ({ expiresAt }: ApiKey) =>
  expiresAt ? expiresAt.seconds * 1000 + expiresAt.nanos / 1e6 : null;

describe.each(DATABASE_KINDS)('Durations of API keys on %s', (kind) => {
  const gateway = gatewayForAllTests(kind, { DELIVERY_ENABLED: 'false' });
  let admin: ReturnType<typeof rawAdmin>;
  let sourceCount = 0;

  beforeAll(() => {
    admin = rawAdmin(gateway.address);
  });
  afterAll(() => admin.close());

  /** A new source with one key that does not expire; its prefix. */
  const newSource = async () => {
    const name = `durations-${++sourceCount}`;
    const key = await gateway.addSource(name, ['mail.send']);
    return { name, prefix: key.slice(4, 16) };
  };
  const keysOf = async (source: string) => (await gateway.admin.listApiKeys({ source })).apiKeys;

  it('ignores the timestamps of a source in a request, however far out of range', async () => {
    const farOut = { seconds: (2n ** 63n - 1n).toString(), nanos: 999_999_999 };
    const startedAt = Date.now();
    const { source } = await admin.call<{ source: { createdAt: Timestamp; updatedAt: Timestamp } }>(
      'createSource',
      {
        source: { name: 'durations-timestamps', roles: ['mail.send'], createdAt: farOut, updatedAt: farOut },
      },
    );
    for (const stamp of [source.createdAt, source.updatedAt]) {
      expect(stamp.seconds * 1000).toBeGreaterThanOrEqual(Math.floor(startedAt / 1000) * 1000);
      expect(stamp.seconds * 1000).toBeLessThanOrEqual(Date.now());
    }
  });

  describe('CreateApiKey expires_in_seconds', () => {
    it.each(tooLong(MAX_LIFETIME_SECONDS))(
      'refuses %s as INVALID_ARGUMENT and issues no key',
      async (_case, value) => {
        const { name } = await newSource();
        const before = await keysOf(name);
        const error = await refusal(admin.call('createApiKey', { source: name, expiresInSeconds: value }));
        expect(status[error.code]).toBe('INVALID_ARGUMENT');
        expect(error.details).toBe(
          'expires_in_seconds: must be from 1 to 315360000 seconds (3650 days), or 0 for no expiry',
        );
        expect(await keysOf(name)).toEqual(before);
      },
    );

    it('issues a key for the longest lifetime, expiring then', async () => {
      const { name } = await newSource();
      const startedAt = Date.now();
      const { apiKey } = await admin.call<{ apiKey: ApiKey }>('createApiKey', {
        source: name,
        expiresInSeconds: String(MAX_LIFETIME_SECONDS),
      });
      const expiry = expiryMs(apiKey)!;
      expect(expiry).toBeGreaterThanOrEqual(startedAt + MAX_LIFETIME_SECONDS * 1000);
      expect(expiry).toBeLessThanOrEqual(Date.now() + MAX_LIFETIME_SECONDS * 1000);
      expect((await keysOf(name)).map(expiryMs)).toContain(expiry);
    });
  });

  describe('RotateApiKey overlap_seconds', () => {
    it.each(tooLong(MAX_OVERLAP_SECONDS))(
      'refuses %s as INVALID_ARGUMENT and rotates nothing',
      async (_case, value) => {
        const { name, prefix } = await newSource();
        const before = await keysOf(name);
        const error = await refusal(
          admin.call('rotateApiKey', { prefix, overlapSeconds: value, expiresInSeconds: '0' }),
        );
        expect(status[error.code]).toBe('INVALID_ARGUMENT');
        expect(error.details).toBe(
          'overlap_seconds: must be from 1 to 2592000 seconds (30 days), or 0 for API_KEY_ROTATION_OVERLAP_MS',
        );
        expect(await keysOf(name)).toEqual(before);
      },
    );

    it('keeps the old key valid for the longest overlap', async () => {
      const { prefix } = await newSource();
      const startedAt = Date.now();
      const { previous } = await admin.call<{ previous: ApiKey }>('rotateApiKey', {
        prefix,
        overlapSeconds: String(MAX_OVERLAP_SECONDS),
        expiresInSeconds: '0',
      });
      expect(previous.prefix).toBe(prefix);
      expect(expiryMs(previous)).toBeGreaterThanOrEqual(startedAt + 30 * DAY_MS);
      expect(expiryMs(previous)).toBeLessThanOrEqual(Date.now() + 30 * DAY_MS);
    });
  });

  describe('RotateApiKey expires_in_seconds', () => {
    it.each(tooLong(MAX_LIFETIME_SECONDS))(
      'refuses %s as INVALID_ARGUMENT and rotates nothing',
      async (_case, value) => {
        const { name, prefix } = await newSource();
        const before = await keysOf(name);
        const error = await refusal(
          admin.call('rotateApiKey', { prefix, overlapSeconds: '0', expiresInSeconds: value }),
        );
        expect(status[error.code]).toBe('INVALID_ARGUMENT');
        expect(error.details).toBe(
          'expires_in_seconds: must be from 1 to 315360000 seconds (3650 days), or 0 for no expiry',
        );
        expect(await keysOf(name)).toEqual(before);
      },
    );

    it('gives the new key the longest lifetime', async () => {
      const { prefix } = await newSource();
      const startedAt = Date.now();
      const { apiKey } = await admin.call<{ apiKey: ApiKey }>('rotateApiKey', {
        prefix,
        overlapSeconds: '0',
        expiresInSeconds: String(MAX_LIFETIME_SECONDS),
      });
      expect(expiryMs(apiKey)).toBeGreaterThanOrEqual(startedAt + MAX_LIFETIME_SECONDS * 1000);
      expect(expiryMs(apiKey)).toBeLessThanOrEqual(Date.now() + MAX_LIFETIME_SECONDS * 1000);
    });
  });
});
