import type { PeerCertificate } from 'node:tls';

/**
 * The names a verified client certificate may stand for, most specific first: URI SANs (a
 * service mesh puts the workload's SPIFFE id there), then the subject CN.
 */
export function certificateIdentities(certificate: PeerCertificate | undefined): string[] {
  if (!certificate || Object.keys(certificate).length === 0) return [];
  const uris = (certificate.subjectaltname ?? '')
    .split(/,\s*/)
    .filter((entry) => entry.startsWith('URI:'))
    .map((entry) => entry.slice('URI:'.length));
  const commonName = certificate.subject?.CN;
  const names = Array.isArray(commonName) ? commonName : commonName ? [commonName] : [];
  return [...uris, ...names];
}
