import { createServer, type Server } from 'node:https';
import { randomInt } from 'node:crypto';
import { loadConfigSlice } from '@mailgateway/config';
import { UpstreamRegistry, upstreamConfig } from '@mailgateway/delivery';
import {
  SnsSigner,
  StaticHostResolver,
  TestCertificateAuthority,
  type TestCertificate,
} from '@mailgateway/testing';
import { SesWebhookProvider } from './ses-webhook.provider';
import { UpstreamSnsFetcher } from './upstream-sns-fetcher';

const HOST = 'sns.us-east-1.amazonaws.com';
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:ses-feedback';
const CERT_PATH = '/SimpleNotificationService-0123456789abcdef.pem';
// SigningCertURL has no port, so the certificate is served on 443, on a loopback address of this
// run's own: binding it needs root, as the reliability suites do.
const ADDRESS = `127.83.${randomInt(1, 255)}.${randomInt(1, 255)}`;
const describeAsRoot = process.getuid?.() === 0 ? describe : describe.skip;

interface Served {
  readonly path: string;
  readonly servername: string | undefined;
}

describeAsRoot(`${UpstreamSnsFetcher.name} against an HTTPS server named ${HOST} on ${ADDRESS}:443`, () => {
  let authority: TestCertificateAuthority;
  let caFile: string;
  let signer: SnsSigner;
  let server: Server | undefined;
  let registry: UpstreamRegistry;
  const served: Served[] = [];

  const serve = async (certificate: TestCertificate) => {
    server = createServer(certificate, (request, response) => {
      served.push({
        path: request.url ?? '',
        servername: (request.socket as { servername?: string }).servername,
      });
      if (request.url === CERT_PATH)
        response.writeHead(200, { 'content-type': 'text/plain' }).end(signer.certificatePem);
      else if (request.url?.startsWith('/?Action=ConfirmSubscription'))
        response.writeHead(200).end('<ConfirmSubscriptionResponse/>');
      else response.writeHead(404).end('<Error>NotFound</Error>');
    });
    await new Promise<void>((resolve, reject) => server!.once('error', reject).listen(443, ADDRESS, resolve));
  };

  const provider = () => {
    registry = new UpstreamRegistry(
      loadConfigSlice(upstreamConfig, {
        UPSTREAM_CA_FILE: caFile,
        UPSTREAM_ALLOW_LOCAL_ADDRESSES: 'true',
        UPSTREAM_ADDRESSES: `${HOST}=${ADDRESS}`,
        UPSTREAM_CONNECT_TIMEOUT_MS: '2000',
      }),
      // Every lookup fails: the address override is the only way to the server.
      new StaticHostResolver(),
    );
    return new SesWebhookProvider(
      { topicArns: [TOPIC] },
      { replayWindowMs: 60_000, fetcher: new UpstreamSnsFetcher(registry) },
    );
  };

  const request = (fields: Record<string, string>) => ({
    method: 'POST',
    subpath: '',
    headers: {},
    body: Buffer.from(JSON.stringify(signer.sign(fields))),
    receivedAt: Date.now(),
  });

  const notification = (messageId: string, certPath = CERT_PATH) => ({
    Type: 'Notification',
    MessageId: messageId,
    TopicArn: TOPIC,
    Message: JSON.stringify({
      notificationType: 'Delivery',
      mail: { messageId: 'ses-1', commonHeaders: {} },
      delivery: { recipients: ['ada@example.org'] },
    }),
    Timestamp: new Date().toISOString(),
    SignatureVersion: '2',
    SigningCertURL: `https://${HOST}${certPath}`,
  });

  beforeAll(async () => {
    authority = await TestCertificateAuthority.create();
    caFile = await authority.writeTemporaryPem();
    signer = await SnsSigner.create();
  });

  afterEach(async () => {
    await registry?.onModuleDestroy();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
    served.length = 0;
  });

  it('fetches the signing certificate over verified TLS, once, and verifies notifications with it', async () => {
    await serve(await authority.issue(HOST));
    const sut = provider();

    await expect(sut.verify(request(notification('m-1')))).resolves.toMatchObject({
      kind: 'verified',
      feedback: [{ kind: 'delivered', recipient: 'ada@example.org', providerMessageId: 'ses-1' }],
    });
    await expect(sut.verify(request(notification('m-2')))).resolves.toMatchObject({ kind: 'verified' });

    expect(served).toEqual([{ path: CERT_PATH, servername: HOST }]);
  });

  it('confirms a subscription with a GET of its SubscribeURL', async () => {
    await serve(await authority.issue(HOST));
    const subscribePath = `/?Action=ConfirmSubscription&TopicArn=${TOPIC}&Token=2336412f37`;

    const verification = await provider().verify(
      request({
        ...notification('m-3'),
        Type: 'SubscriptionConfirmation',
        Message: 'You have chosen to subscribe.',
        Token: '2336412f37',
        SubscribeURL: `https://${HOST}${subscribePath}`,
      }),
    );

    expect(verification).toEqual({ kind: 'verified', feedback: [] });
    expect(served.map(({ path }) => path)).toEqual([CERT_PATH, subscribePath]);
  });

  it('rejects when the certificate is not there, and verifies nothing', async () => {
    await serve(await authority.issue(HOST));

    await expect(
      provider().verify(request(notification('m-4', '/SimpleNotificationService-0000.pem'))),
    ).rejects.toThrow('HTTP 404');
  });

  it('never trusts a server whose certificate the trusted authorities did not sign', async () => {
    const stranger = await TestCertificateAuthority.create('not trusted');
    await serve(await stranger.issue(HOST));

    await expect(provider().verify(request(notification('m-5')))).rejects.toThrow();
    expect(served).toEqual([]);
  });
});
