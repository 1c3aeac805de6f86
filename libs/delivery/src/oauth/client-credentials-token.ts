import type { UpstreamHttpClient, UpstreamResponse } from '../upstream';
import { parseJsonObject } from '../drivers/kit/http-answers';
import { TokenRequestException } from './token-request.exception';

export interface ClientCredentialsSettings {
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scope?: string;
  /** Extra headers for the token request, e.g. a vendor media type in Accept. */
  readonly headers?: Readonly<Record<string, string>>;
}

interface CachedToken {
  readonly value: string;
  readonly refreshAt: number;
}

// Renew this long before expiry, so a token never expires between get() and the request using it.
const MAX_REFRESH_MARGIN_MS = 30_000;
const REFRESH_MARGIN_SHARE = 0.1;
// RFC 6749 §5.1 only recommends expires_in; without it a token is kept this long (or until a 401).
const DEFAULT_LIFETIME_SECONDS = 300;
const MAX_DETAIL_LENGTH = 200;

/**
 * An OAuth 2.0 client credentials token (RFC 6749 §4.4), fetched once and shared: reused until
 * shortly before it expires, and fetched by one request however many callers want it at once.
 */
export class ClientCredentialsToken {
  private current: CachedToken | null = null;
  private pending: Promise<CachedToken> | null = null;
  private readonly path: string;

  constructor(
    private readonly client: UpstreamHttpClient,
    private readonly settings: ClientCredentialsSettings,
    private readonly now: () => number = Date.now,
  ) {
    const url = new URL(settings.tokenUrl);
    this.path = `${url.pathname}${url.search}`;
  }

  /** A valid access token; rejects with TokenRequestException when none can be had. */
  async get(signal?: AbortSignal): Promise<string> {
    if (this.current && this.now() < this.current.refreshAt) return this.current.value;
    if (!this.pending) {
      const pending = this.fetch().finally(() => {
        this.pending = null;
      });
      // Every caller may have given up (aborted) before it settles: never an unhandled rejection.
      pending.catch(() => undefined);
      this.pending = pending;
    }
    return (await untilAborted(this.pending, signal)).value;
  }

  /**
   * Forgets `token` after the API refused it (401), so the next get() fetches a new one. A token
   * that was already replaced is left alone: concurrent 401s cause one refresh, not one each.
   */
  invalidate(token: string): void {
    if (this.current?.value === token) this.current = null;
  }

  private async fetch(): Promise<CachedToken> {
    const requestedAt = this.now();
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: this.settings.clientId,
      client_secret: this.settings.clientSecret,
    });
    if (this.settings.scope) form.set('scope', this.settings.scope);
    let response: UpstreamResponse;
    try {
      // Shared by every waiting caller, so no caller's signal may cancel it; transport timeouts bound it.
      response = await this.client.request({
        method: 'POST',
        path: this.path,
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Accept: 'application/json',
          ...this.settings.headers,
        },
        body: form.toString(),
        // Asking twice for a token is harmless.
        idempotent: true,
      });
    } catch (error) {
      throw new TokenRequestException(
        `token endpoint unreachable: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    const answer = parseJsonObject(response.body);
    if (response.statusCode < 200 || response.statusCode > 299) {
      throw new TokenRequestException(
        `token endpoint answered HTTP ${response.statusCode}${oauthErrorDetail(answer)}`,
        response.statusCode,
      );
    }
    const token = answer?.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new TokenRequestException('token endpoint answered without an access_token', response.statusCode);
    }
    const type = answer?.token_type;
    if (typeof type === 'string' && type.toLowerCase() !== 'bearer') {
      throw new TokenRequestException(
        `token endpoint issued a "${type.slice(0, 20)}" token, not a bearer token`,
      );
    }
    const expiresIn = Number(answer?.expires_in);
    const lifetimeMs =
      (Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : DEFAULT_LIFETIME_SECONDS) * 1000;
    const margin = Math.min(MAX_REFRESH_MARGIN_MS, lifetimeMs * REFRESH_MARGIN_SHARE);
    // Counted from the request, not the answer: the server's clock started no later than that.
    const fresh = { value: token, refreshAt: requestedAt + lifetimeMs - margin };
    this.current = fresh;
    return fresh;
  }
}

/** The RFC 6749 §5.2 error code and description, e.g. ": invalid_client (Bad client credentials)". */
function oauthErrorDetail(answer: Record<string, unknown> | undefined): string {
  const code = typeof answer?.error === 'string' ? answer.error : '';
  const description = typeof answer?.error_description === 'string' ? ` (${answer.error_description})` : '';
  const detail = `${code}${description}`.replace(/\s+/g, ' ').trim().slice(0, MAX_DETAIL_LENGTH);
  return detail ? `: ${detail}` : '';
}

function untilAborted<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}
