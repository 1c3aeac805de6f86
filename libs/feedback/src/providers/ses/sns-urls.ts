/** SNS's own hosts, where signing certificates and subscription confirmations live (AWS documents this rule). */
const SNS_HOST = /^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;

/**
 * Why `url` is not one of SNS's own HTTPS URLs (undefined when it is). Only such URLs are ever
 * fetched: a forged SigningCertURL or SubscribeURL must not make the gateway call anything else.
 */
export function snsUrlProblem(value: string, kind: 'certificate' | 'subscribe'): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'https:') return 'is not https';
  if (url.port !== '' || url.username !== '' || url.password !== '') return 'names a port or credentials';
  if (!SNS_HOST.test(url.hostname))
    return `host ${url.hostname} is not an SNS host (sns.<region>.amazonaws.com)`;
  if (kind === 'certificate' && !url.pathname.endsWith('.pem')) return 'does not name a .pem file';
  return undefined;
}
