/**
 * SNS's own hosts, where signing certificates and subscription confirmations live (AWS documents
 * this rule), with the region captured: it must be the topic's.
 */
const SNS_HOST = /^sns\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/;
/** The signing certificates SNS names: /SimpleNotificationService-<hex>.pem. */
const CERTIFICATE_PATH = /^\/SimpleNotificationService-[0-9a-f]+\.pem$/;
/** arn:<partition>:sns:<region>:<account>:<topic>. */
const TOPIC_ARN = /^arn:[a-z-]+:sns:([a-z0-9-]+):/;

/**
 * Why `url` is not one of SNS's own HTTPS URLs for the topic's region (undefined when it is). Only
 * such URLs are ever fetched: a forged SigningCertURL or SubscribeURL must not make the gateway
 * call anything else, nor reach (and open an upstream client for) any other region. The URL must
 * be written as SNS writes it: lowercase host, no port (not even :443), no credentials.
 */
export function snsUrlProblem(
  value: string,
  kind: 'certificate' | 'subscribe',
  topicArn: string,
): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'https:') return 'is not https';
  if (url.port !== '' || url.username !== '' || url.password !== '') return 'names a port or credentials';
  const region = SNS_HOST.exec(url.hostname)?.[1];
  if (region === undefined) return `host ${url.hostname} is not an SNS host (sns.<region>.amazonaws.com)`;
  // new URL() lowercases the host and drops a default port: the written form must already be canonical.
  if (!value.startsWith(`https://${url.hostname}/`))
    return 'is not written as SNS writes it (https://<host>/…)';
  const topicRegion = TOPIC_ARN.exec(topicArn)?.[1];
  if (region !== topicRegion)
    return `host ${url.hostname} is not in the topic's region (${topicRegion ?? 'none'})`;
  if (kind === 'certificate' && !CERTIFICATE_PATH.test(url.pathname))
    return 'does not name a /SimpleNotificationService-<hex>.pem file';
  return undefined;
}
