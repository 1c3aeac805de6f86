import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { UpstreamConfig } from './upstream.settings';

/**
 * The certificate authorities upstream certificates are verified against: the system ones plus
 * those of UPSTREAM_CA_FILE, or undefined (Node's defaults) when there is no such file.
 * Verification itself is never turned off.
 */
export function trustedAuthorities(config: Pick<UpstreamConfig, 'caFile'>): string[] | undefined {
  return config.caFile ? [...rootCertificates, readFileSync(config.caFile, 'utf8')] : undefined;
}
