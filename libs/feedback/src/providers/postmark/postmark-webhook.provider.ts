import { createHash, timingSafeEqual } from 'node:crypto';
import type { InboundRequest, Verification, WebhookProvider } from '../../intake/webhook-provider';
import { malformed, parseJsonBody, singleHeader, unauthenticated, verified } from '../../intake/verification';
import { parsePostmarkRecord } from './postmark-records.parser';

export interface PostmarkWebhookCredentials {
  readonly username: string;
  readonly password: string;
  readonly pathToken: string;
}

/**
 * Postmark signs nothing: its webhooks carry HTTP Basic credentials (set on the webhook) and are
 * posted to a URL of ours whose last segment is a secret token. Both must match; each is compared
 * in constant time (as digests, so neither the length nor the first wrong byte shows), and both are
 * always compared, so the time taken does not say which one failed.
 */
export class PostmarkWebhookProvider implements WebhookProvider {
  readonly name = 'postmark';
  private readonly expectedPath: Buffer;
  private readonly expectedAuthorization: Buffer;

  constructor(credentials: PostmarkWebhookCredentials) {
    this.expectedPath = digest(`/${credentials.pathToken}`);
    this.expectedAuthorization = digest(
      `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`,
    );
  }

  verify(request: InboundRequest): Promise<Verification> {
    return Promise.resolve(this.check(request));
  }

  private check({ subpath, headers, body }: InboundRequest): Verification {
    // The scheme is case-insensitive (RFC 9110 §11.1); the credentials are not.
    const authorization = (singleHeader(headers, 'authorization') ?? '').replace(/^basic /i, 'Basic ');
    const pathMatches = timingSafeEqual(digest(subpath), this.expectedPath);
    const credentialsMatch = timingSafeEqual(digest(authorization), this.expectedAuthorization);
    if (!pathMatches || !credentialsMatch)
      return unauthenticated('the path token or the HTTP Basic credentials are wrong or missing');
    const json = parseJsonBody(body);
    if (json === undefined) return malformed('the body is not JSON');
    const parsed = parsePostmarkRecord(json);
    return 'problem' in parsed ? malformed(parsed.problem) : verified(parsed.feedback);
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
