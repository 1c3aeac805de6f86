import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { generateApiKey } from '@mailgateway/auth';
import { databaseConfig } from '@mailgateway/database';
import { deliveryConfig, findDriver } from '@mailgateway/delivery';
import { GATEWAY_CONFIG_SLICES, loadGatewayConfig } from '@mailgateway/gateway';
import { throttlingConfig } from '@mailgateway/throttling';

interface Service {
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
}

const ROOT = dirname(require.resolve('../package.json'));
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, Service>;
};

/** Compose's interpolation of `${VAR}`, `${VAR:-default}` and `${VAR:?message}` from `shell`. */
function interpolate(value: string, shell: Record<string, string>): string {
  return value.replace(
    /\$\{(\w+)(?::([-?])([^}]*))?\}/g,
    (_all, name: string, kind?: string, text?: string) => {
      if (shell[name]) return shell[name];
      if (kind === '-') return text ?? '';
      throw new Error(`${name} is unset${kind === '?' ? `: ${text}` : ''}`);
    },
  );
}

/** A service's environment as its container gets it, with the variables the README says to export. */
function environmentOf(service: string): Record<string, string> {
  const shell = {
    MAILGATEWAY_API_KEY: generateApiKey().key,
    MAILGATEWAY_CONTENT_KEYS: `local-1:${randomBytes(32).toString('base64')}`,
  };
  const environment = compose.services[service].environment ?? {};
  return Object.fromEntries(
    Object.entries(environment).map(([key, value]) => [key, interpolate(String(value), shell)]),
  );
}

const isSetting = (key: string) => GATEWAY_CONFIG_SLICES.some((slice) => key in slice.settings);

describe('docker-compose.yml', () => {
  it.each(['gateway', 'migrate'])('gives %s only real settings, each valid', (service) => {
    const environment = environmentOf(service);
    expect(Object.keys(environment).filter((key) => !isSetting(key))).toEqual([]);
    expect(() => loadGatewayConfig(environment)).not.toThrow();
  });

  it('delivers with the http driver to the fake upstream service, on the port it listens on', () => {
    const config = loadGatewayConfig(environmentOf('gateway'));
    expect(config.get(deliveryConfig).driver).toBe('http');
    const driverSettings = config.get(findDriver('http')!.config!) as { url?: string };
    const url = new URL(driverSettings.url!);
    const upstream = compose.services[url.hostname];
    expect(upstream?.command).toEqual(['node', '/srv/fake-upstream.js']);
    expect(upstream.environment?.PORT).toBe(url.port);
    const [source, target] = upstream.volumes![0].split(':');
    expect(target).toBe('/srv/fake-upstream.js');
    expect(existsSync(join(ROOT, source))).toBe(true);
  });

  it('uses the compose PostgreSQL (with its credentials) and Redis', () => {
    const config = loadGatewayConfig(environmentOf('gateway'));
    expect(config.get(databaseConfig).type).toBe('postgres');
    const database = new URL(environmentOf('gateway').DATABASE_URL);
    const postgres = compose.services[database.hostname].environment!;
    expect([database.username, database.password, database.pathname]).toEqual([
      postgres.POSTGRES_USER,
      postgres.POSTGRES_PASSWORD,
      `/${postgres.POSTGRES_DB}`,
    ]);
    expect(environmentOf('migrate').DATABASE_URL).toBe(environmentOf('gateway').DATABASE_URL);
    expect(config.get(throttlingConfig).redis).toBeDefined();
    expect(compose.services[new URL(environmentOf('gateway').REDIS_URL).hostname]).toBeDefined();
  });

  it('would be refused with the fake upstream on localhost (why the URL names the service)', () => {
    const environment = { ...environmentOf('gateway'), HTTP_DRIVER_URL: 'http://localhost:8080/messages' };
    expect(() => loadGatewayConfig(environment)).toThrow(/HTTP_DRIVER_URL: host "localhost" is this machine/);
  });

  it('needs MAILGATEWAY_API_KEY exported, as compose does', () => {
    expect(() => interpolate(compose.services.gateway.environment!.BOOTSTRAP_API_KEY, {})).toThrow(
      /MAILGATEWAY_API_KEY is unset: export MAILGATEWAY_API_KEY=/,
    );
  });
});
