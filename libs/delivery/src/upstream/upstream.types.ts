import type { IncomingHttpHeaders } from 'node:http';

export interface UpstreamRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path and query, relative to the upstream's origin. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  /**
   * True when sending the request twice is harmless: a GET, or a POST carrying an idempotency key
   * the provider honours. Only then is a request that may already have arrived sent again.
   */
  readonly idempotent?: boolean;
  readonly signal?: AbortSignal;
}

export interface UpstreamResponse {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** False when the connection broke while the body was read: the status is still the upstream's. */
  readonly bodyComplete: boolean;
}

/** Sends HTTP requests to one upstream host (one origin), spread over all of its addresses. */
export interface UpstreamHttpClient {
  readonly origin: string;
  request(request: UpstreamRequest): Promise<UpstreamResponse>;
}
