import { ConfigurationException } from '@mailgateway/config';

/**
 * The values of settings a driver cannot start without; throws a ConfigurationException naming
 * each one that is missing, so start-up stops with all of them at once.
 */
export function requireSettings<Names extends string>(
  driver: string,
  settings: Readonly<Record<Names, string | undefined>>,
): Readonly<Record<Names, string>> {
  const missing = Object.entries<string | undefined>(settings)
    .filter(([, value]) => !value)
    .map(([name]) => `${name}: required when MAIL_DRIVER is ${driver}`);
  if (missing.length > 0) throw new ConfigurationException(missing);
  return settings as Readonly<Record<Names, string>>;
}

/** The path of `endpoint` under a base URL that may carry a path prefix of its own (a proxy). */
export function pathUnder(baseUrl: string, endpoint: string): string {
  return `${new URL(baseUrl).pathname.replace(/\/+$/, '')}${endpoint}`;
}
