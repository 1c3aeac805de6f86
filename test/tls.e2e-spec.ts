import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, status } from '@grpc/grpc-js';
import {
  aSendMailRequest,
  DATABASE_KINDS,
  provisionTestDatabase,
  saveCertificate,
  TestCertificate,
  TestCertificateAuthority,
  TestDatabase,
} from '@mailgateway/testing';
import { DataSource } from 'typeorm';
import { expectGrpcError } from './support/grpc-assertions';
import { startTestGateway, TestGateway } from './support/test-gateway';

const SPIFFE_ID = 'spiffe://cluster.local/ns/billing/sa/billing-api';

describe.each(DATABASE_KINDS)('TLS and mTLS on the gRPC listener on %s', (kind) => {
  let folder: string;
  let ca: TestCertificateAuthority;
  let caPath: string;
  let caPem: Buffer;
  let server: { certPath: string; keyPath: string };
  let database: TestDatabase;

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'mailgateway-tls-'));
    ca = await TestCertificateAuthority.create();
    caPath = await ca.writePem(join(folder, 'ca.crt'));
    caPem = Buffer.from(ca.pem);
    server = await saveCertificate(
      folder,
      'server',
      await ca.issueFor('localhost', ['DNS:localhost', 'IP:127.0.0.1']),
    );
    database = await provisionTestDatabase(kind);
  });

  afterAll(async () => {
    await database?.drop();
    await rm(folder, { recursive: true, force: true });
  });

  const serverEnv = () => ({
    ...database.env,
    DELIVERY_ENABLED: 'false',
    TLS_CERT_PATH: server.certPath,
    TLS_KEY_PATH: server.keyPath,
  });

  describe('TLS', () => {
    let gateway: TestGateway;
    beforeAll(async () => {
      gateway = await startTestGateway(serverEnv(), { credentials: credentials.createSsl(caPem) });
    });
    afterAll(() => gateway?.close());

    it('serves key-authenticated calls over TLS', async () => {
      expect((await gateway.client.sendMail(aSendMailRequest())).messageId).toBeTruthy();
    });

    it('refuses plaintext clients', async () => {
      const plain = gateway.connect(undefined, {
        credentials: credentials.createInsecure(),
        deadlineMs: 2_000,
      });
      const error = await plain.sendMail(aSendMailRequest()).then(
        () => undefined,
        (error: { code: status }) => error,
      );
      expect(error && status[error.code]).toMatch(/^(UNAVAILABLE|DEADLINE_EXCEEDED)$/);
    });
  });

  describe('mTLS', () => {
    let gateway: TestGateway;
    let operator: TestCertificate;
    const withCertificate = (certificate: TestCertificate) =>
      credentials.createSsl(caPem, Buffer.from(certificate.key), Buffer.from(certificate.cert));

    beforeAll(async () => {
      operator = await ca.issueFor('operator');
      gateway = await startTestGateway(
        { ...serverEnv(), TLS_CLIENT_CA_PATH: caPath },
        { credentials: withCertificate(operator) },
      );
      for (const [name, identity] of [
        [`billing-${kind}`, SPIFFE_ID],
        [`reports-${kind}`, `reports-${kind}`],
      ]) {
        await gateway.admin.createSource({
          source: {
            name,
            roles: ['mail.send'],
            policy: undefined,
            certificateIdentity: identity,
            createdAt: undefined,
            updatedAt: undefined,
          },
        });
      }
    });
    afterAll(() => gateway?.close());

    const sourceOf = async (messageId: string) => {
      const [row] = await gateway.app
        .get(DataSource)
        .query(`SELECT source FROM outbox_message WHERE id = '${messageId}'`);
      return row.source as string;
    };

    it("authenticates a workload by its certificate's URI SAN (a SPIFFE id), with no key", async () => {
      const workload = await ca.issueFor('billing-pod-7f9c', [`URI:${SPIFFE_ID}`]);
      const client = gateway.connect(undefined, { credentials: withCertificate(workload) });
      const { messageId } = await client.sendMail(aSendMailRequest());
      expect(await sourceOf(messageId)).toBe(`billing-${kind}`);
      // Its roles still apply: this source may send but not read.
      await expectGrpcError(client.getMessage({ messageId }), status.PERMISSION_DENIED, /mail\.read/);
    });

    it('authenticates by the subject CN when the certificate has no URI SAN', async () => {
      const client = gateway.connect(undefined, {
        credentials: withCertificate(await ca.issueFor(`reports-${kind}`)),
      });
      const { messageId } = await client.sendMail(aSendMailRequest());
      expect(await sourceOf(messageId)).toBe(`reports-${kind}`);
    });

    it('refuses a valid certificate that is no source as UNAUTHENTICATED', async () => {
      const client = gateway.connect(undefined, {
        credentials: withCertificate(await ca.issueFor('stranger')),
      });
      await expectGrpcError(
        client.sendMail(aSendMailRequest()),
        status.UNAUTHENTICATED,
        'the client certificate is not the identity of any source',
      );
    });

    it('prefers an API key over the certificate when both are sent', async () => {
      const { messageId } = await gateway.client.sendMail(aSendMailRequest());
      expect(await sourceOf(messageId)).toBe('dev');
    });

    it('refuses a client without a certificate at the handshake', async () => {
      const client = gateway.connect(undefined, {
        credentials: credentials.createSsl(caPem),
        deadlineMs: 2_000,
      });
      const error = await client.sendMail(aSendMailRequest()).then(
        () => undefined,
        (error: { code: status }) => error,
      );
      expect(error && status[error.code]).toMatch(/^(UNAVAILABLE|DEADLINE_EXCEEDED)$/);
    });
  });
});
