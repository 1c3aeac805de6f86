import { readFileSync } from 'node:fs';
import type { GatewayClientOptions, TlsOptions } from '@mailgateway/client';
import { Command } from 'commander';

/** The options every command shares, set on the root command. */
export interface GlobalOptions {
  address: string;
  apiKey?: string;
  tls?: boolean;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** A connection setting the CLI cannot use; the message names the flag or variable it came from. */
export class ConnectionSettingError extends Error {}

const TLS_VARIABLE = 'MAILGATEWAY_TLS';

/** The client options of the program's global flags (or their environment variables). */
export function connectionOptions(program: Command): GatewayClientOptions {
  const options = program.opts<GlobalOptions>();
  return { address: options.address, apiKey: options.apiKey, tls: tlsOptions(program, options) };
}

function tlsOptions(program: Command, options: GlobalOptions): TlsOptions | undefined {
  const { caFile, certFile, keyFile } = options;
  if (Boolean(certFile) !== Boolean(keyFile)) {
    const [missing, given] = certFile ? ['keyFile', 'certFile'] : ['certFile', 'keyFile'];
    throw new ConnectionSettingError(
      `${settingName(program, missing)}: required with ${settingName(program, given)} (mTLS needs both)`,
    );
  }
  if (!options.tls && !tlsFromEnvironment() && !caFile && !certFile) return undefined;
  return {
    ca: caFile ? readPem(program, 'caFile', caFile) : undefined,
    cert: certFile ? readPem(program, 'certFile', certFile) : undefined,
    key: keyFile ? readPem(program, 'keyFile', keyFile) : undefined,
  };
}

/** MAILGATEWAY_TLS as a yes or no; anything else is refused rather than guessed. */
function tlsFromEnvironment(): boolean {
  const value = process.env[TLS_VARIABLE];
  if (value === undefined || value === '' || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  throw new ConnectionSettingError(`${TLS_VARIABLE}: expected true or false, got "${value}"`);
}

function readPem(program: Command, key: keyof GlobalOptions, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConnectionSettingError(
      `${settingName(program, key)}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? error})`,
    );
  }
}

/** "--ca-file", or "MAILGATEWAY_CA_FILE" when the value came from the environment. */
function settingName(program: Command, key: string): string {
  const option = program.options.find((each) => each.attributeName() === key)!;
  return program.getOptionValueSource(key) === 'env' && option.envVar ? option.envVar : option.long!;
}
