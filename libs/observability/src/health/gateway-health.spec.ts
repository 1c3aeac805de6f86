import { Server, ServerCredentials } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { checkHealth, listServicesByReflection } from '@mailgateway/testing';
import { MAIL_GATEWAY_DESCRIPTOR_SET_PATH } from '@mailgateway/contracts';
import { GatewayHealth } from './gateway-health';

describe(GatewayHealth.name, () => {
  let server: Server;
  let address: string;
  let sut: GatewayHealth;

  beforeEach(async () => {
    sut = new GatewayHealth(['mailgateway.v1.MailGateway']);
    server = new Server();
    sut.addToServer(server, readFileSync(MAIL_GATEWAY_DESCRIPTOR_SET_PATH));
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    address = `127.0.0.1:${port}`;
  });

  afterEach(() => server.forceShutdown());

  it('starts NOT_SERVING, follows the readiness checks, and stays NOT_SERVING once shutdown starts', async () => {
    expect(await checkHealth(address, '')).toBe('NOT_SERVING');
    expect(await checkHealth(address, 'mailgateway.v1.MailGateway')).toBe('NOT_SERVING');
    expect(await checkHealth(address, 'liveness')).toBe('SERVING');

    sut.setReady(true);
    expect(await checkHealth(address, '')).toBe('SERVING');
    expect(await checkHealth(address, 'mailgateway.v1.MailGateway')).toBe('SERVING');

    sut.setReady(false, 'database unreachable');
    expect(await checkHealth(address, '')).toBe('NOT_SERVING');
    expect(sut.notReadyReason).toBe('database unreachable');

    sut.setReady(true);
    sut.startShutdown();
    sut.setReady(true);
    expect(await checkHealth(address, '')).toBe('NOT_SERVING');
    expect(sut.notReadyReason).toBe('shutting down');
    expect(await checkHealth(address, 'liveness')).toBe('SERVING');
  });

  it('adds server reflection for the served package and the health service', async () => {
    expect(await listServicesByReflection(address)).toEqual(
      expect.arrayContaining(['mailgateway.v1.MailGateway', 'grpc.health.v1.Health']),
    );
  });
});
