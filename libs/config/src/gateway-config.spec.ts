import { ConfigurationError, loadGatewayConfig, MAX_BATCH_ITEMS } from './gateway-config';

describe(loadGatewayConfig.name, () => {
  const loadError = (env: NodeJS.ProcessEnv): ConfigurationError => {
    try {
      loadGatewayConfig(env);
    } catch (error) {
      if (error instanceof ConfigurationError) return error;
      throw error;
    }
    throw new Error('expected a ConfigurationError');
  };

  it('defaults to SQLite, the sandbox driver and a loopback listener', () => {
    const sut = loadGatewayConfig({});
    expect(sut.database).toEqual({ type: 'sqlite', path: 'data/mailgateway.sqlite' });
    expect(sut.delivery.driver).toBe('sandbox');
    expect(sut.grpc).toMatchObject({ host: '127.0.0.1', port: 50051 });
    expect(sut.limits.maxBatchItems).toBe(MAX_BATCH_ITEMS);
  });

  it('uses PostgreSQL when DATABASE_URL is set', () => {
    const sut = loadGatewayConfig({
      DATABASE_URL: 'postgresql://mail@db:5432/mail',
      DATABASE_POOL_SIZE: '4',
    });
    expect(sut.database).toEqual({
      type: 'postgres',
      url: 'postgresql://mail@db:5432/mail',
      poolSize: 4,
      connectTimeoutMs: 5000,
    });
  });

  it('treats an empty variable as unset', () => {
    expect(loadGatewayConfig({ GRPC_PORT: '', DATABASE_URL: '' }).grpc.port).toBe(50051);
  });

  it('sets the gRPC receive limit just above the message cap', () => {
    const sut = loadGatewayConfig({ MAX_MESSAGE_BYTES: '1048576', MAX_ATTACHMENT_BYTES: '1000' });
    expect(sut.grpc.maxReceiveMessageBytes).toBeGreaterThan(1048576);
    expect(sut.grpc.maxReceiveMessageBytes).toBeLessThanOrEqual(1048576 + 65536);
  });

  it('names every bad variable with the value it got', () => {
    const error = loadError({ GRPC_PORT: '70000', DELIVERY_ENABLED: 'yes', LOG_LEVEL: 'loud' });
    expect(error.problems).toHaveLength(3);
    expect(error.message).toMatch(/GRPC_PORT: .*\(got "70000"\)/);
    expect(error.message).toMatch(/DELIVERY_ENABLED: .*\(got "yes"\)/);
    expect(error.message).toMatch(/LOG_LEVEL: .*\(got "loud"\)/);
  });

  it('never prints the value of a sensitive variable', () => {
    const error = loadError({ DATABASE_URL: 'mysql://root:s3cret@db/mail' });
    expect(error.message).toContain('DATABASE_URL: must be a postgres:// or postgresql:// URL');
    expect(error.message).not.toContain('s3cret');
  });

  it('refuses settings that contradict each other', () => {
    expect(loadError({ MAX_MESSAGE_BYTES: '2048', MAX_ATTACHMENT_BYTES: '4096' }).message).toContain(
      'MAX_ATTACHMENT_BYTES: must not exceed MAX_MESSAGE_BYTES',
    );
    expect(loadError({ RETRY_BASE_DELAY_MS: '5000', RETRY_MAX_DELAY_MS: '1000' }).message).toContain(
      'RETRY_BASE_DELAY_MS: must not exceed RETRY_MAX_DELAY_MS',
    );
  });
});
