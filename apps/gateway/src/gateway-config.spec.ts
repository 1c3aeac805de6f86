import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigurationException, LoadedConfig, renderSettingsTable } from '@mailgateway/config';
import { databaseConfig } from '@mailgateway/database';
import { deliveryConfig, MAIL_DRIVERS } from '@mailgateway/delivery';
import { TEST_SCHEMA } from '@mailgateway/testing';
import { validationConfig } from '@mailgateway/validation';
import { maxReceiveMessageBytes } from './gateway-app';
import { GATEWAY_CONFIG_SLICES, GATEWAY_SCHEMA, loadGatewayConfig } from './gateway-config';
import { gatewayConfig } from './gateway.settings';

describe(loadGatewayConfig.name, () => {
  const loadError = (env: NodeJS.ProcessEnv): ConfigurationException => {
    try {
      loadGatewayConfig(env);
    } catch (error) {
      if (error instanceof ConfigurationException) return error;
      throw error;
    }
    throw new Error('expected a ConfigurationException');
  };

  it('defaults to SQLite, the sandbox driver and a loopback listener', () => {
    const sut: LoadedConfig = loadGatewayConfig({});
    expect(sut.get(databaseConfig)).toEqual({ type: 'sqlite', path: 'data/mailgateway.sqlite' });
    expect(sut.get(deliveryConfig).driver).toBe('sandbox');
    expect(sut.get(gatewayConfig).grpc).toEqual({ host: '127.0.0.1', port: 50051 });
    expect(sut.get(validationConfig).maxBatchItems).toBe(500);
  });

  it('uses PostgreSQL when DATABASE_URL is set', () => {
    const sut = loadGatewayConfig({
      DATABASE_URL: 'postgresql://mail@db:5432/mail',
      DATABASE_POOL_SIZE: '4',
    });
    expect(sut.get(databaseConfig)).toEqual({
      type: 'postgres',
      url: 'postgresql://mail@db:5432/mail',
      poolSize: 4,
      connectTimeoutMs: 5000,
      preparedStatements: true,
    });
    const behindPooler = loadGatewayConfig({
      DATABASE_URL: 'postgresql://mail@db:5432/mail',
      DATABASE_PREPARED_STATEMENTS: 'false',
    });
    expect(behindPooler.get(databaseConfig)).toMatchObject({ preparedStatements: false });
  });

  it('treats an empty variable as unset', () => {
    expect(loadGatewayConfig({ GRPC_PORT: '', DATABASE_URL: '' }).get(gatewayConfig).grpc.port).toBe(50051);
  });

  it('sets the gRPC receive limit just above the message cap', () => {
    const limit = maxReceiveMessageBytes(
      loadGatewayConfig({ MAX_MESSAGE_BYTES: '1048576', MAX_ATTACHMENT_BYTES: '1000' }),
    );
    expect(limit).toBeGreaterThan(1048576);
    expect(limit).toBeLessThanOrEqual(1048576 + 65536);
  });

  it('names every bad variable, of any lib, with the value it got', () => {
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
    expect(loadError({ BODY_RETENTION_MS: '7200001', HISTORY_RETENTION_MS: '7200000' }).message).toContain(
      'BODY_RETENTION_MS: 7200001 is longer than HISTORY_RETENTION_MS (7200000)',
    );
    expect(loadError({ HISTORY_RETENTION_MS: '3599999' }).message).toContain('HISTORY_RETENTION_MS');
    expect(loadError({ TLS_CERT_PATH: 'cert.pem' }).message).toContain(
      'TLS_KEY_PATH: TLS_CERT_PATH and TLS_KEY_PATH go together',
    );
  });

  it('refuses a driver it does not have, by name', () => {
    const known = MAIL_DRIVERS.map(({ name }) => name);
    expect(known).toEqual(expect.arrayContaining(['sandbox', 'http', 'sendgrid', 'postmark', 'flowmailer']));
    expect(loadError({ MAIL_DRIVER: 'carrier-pigeon', FALLBACK_MAIL_DRIVER: 'sandbox' }).problems).toEqual([
      `MAIL_DRIVER: unknown driver "carrier-pigeon" (known: ${known.join(', ')})`,
    ]);
  });

  it('refuses upstream URLs and addresses on loopback, link-local or metadata addresses unless allowed', () => {
    const local = {
      HTTP_DRIVER_URL: 'https://127.0.0.1:8443/send',
      SENDGRID_API_URL: 'http://169.254.169.254/latest/meta-data',
      POSTMARK_API_URL: 'https://[::1]/',
      FLOWMAILER_API_URL: 'https://localhost/',
      FLOWMAILER_TOKEN_URL: 'https://[fd00:ec2::254]/token',
      UPSTREAM_ADDRESSES: 'api.sendgrid.com=192.0.2.10,127.0.0.2;api.postmarkapp.com=fe80::1',
    };

    const problems = loadError(local).problems;

    expect(problems).toEqual([
      expect.stringMatching(
        /^UPSTREAM_ADDRESSES: 127\.0\.0\.2 is a loopback, link-local or metadata address; set UPSTREAM_ALLOW_LOCAL_ADDRESSES=true/,
      ),
      expect.stringMatching(/^UPSTREAM_ADDRESSES: fe80::1 /),
      expect.stringMatching(/^HTTP_DRIVER_URL: host 127\.0\.0\.1 /),
      expect.stringMatching(/^SENDGRID_API_URL: host 169\.254\.169\.254 /),
      expect.stringMatching(/^POSTMARK_API_URL: host ::1 /),
      expect.stringMatching(/^FLOWMAILER_API_URL: host "localhost" is this machine/),
      expect.stringMatching(/^FLOWMAILER_TOKEN_URL: host fd00:ec2::254 /),
    ]);
    expect(() => loadGatewayConfig({ ...local, UPSTREAM_ALLOW_LOCAL_ADDRESSES: 'true' })).not.toThrow();
    expect(() =>
      loadGatewayConfig({
        HTTP_DRIVER_URL: 'https://10.1.2.3/send',
        UPSTREAM_ADDRESSES: 'relay.internal=10.0.0.7',
      }),
    ).not.toThrow();
  });

  it('keeps the tables the test databases migrate: every one the gateway runs with', () => {
    expect(new Set(TEST_SCHEMA.entities)).toEqual(new Set(GATEWAY_SCHEMA.entities));
    expect(new Set(TEST_SCHEMA.migrations)).toEqual(new Set(GATEWAY_SCHEMA.migrations));
  });

  it('is documented in the README, from every slice (regenerate with `npm run docs:settings`)', () => {
    const readme = readFileSync(join(__dirname, '../../../README.md'), 'utf8');
    const section = readme.split('<!-- settings:start -->')[1]?.split('<!-- settings:end -->')[0];
    expect(section?.trim()).toBe(renderSettingsTable(GATEWAY_CONFIG_SLICES));
  });
});
