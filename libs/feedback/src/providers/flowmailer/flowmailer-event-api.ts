import { GATEWAY_MESSAGE_ID_HEADER } from '@mailgateway/contracts';
import {
  ClientCredentialsToken,
  type FlowmailerConfig,
  type UpstreamHttpClient,
  UpstreamRegistry,
  type UpstreamResponse,
} from '@mailgateway/delivery';
import type {
  FlowmailerEventPage,
  FlowmailerMessage,
  FlowmailerMessageEvent,
} from './flowmailer-message-event';

const MEDIA_TYPE = 'application/vnd.flowmailer.v1.12+json';
const GATEWAY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_DETAIL_LENGTH = 200;

/**
 * Flowmailer's REST API v1.12 as the event poller reads it, with the flowmailer driver's account
 * and OAuth2 client credentials (one token, refreshed once on a 401):
 * - GET /{account_id}/message_events?sortorder=ASC with `Range: items=<reference>:<count>`, oldest
 *   first; the answer's `Next-Range: items=<reference>:<count>` is where the next page starts.
 * - GET /{account_id}/messages/{message_id}: the message's recipientAddress and submitted headers.
 * Any other answer rejects, so the poll stores nothing and tries again later.
 */
export class FlowmailerEventApi {
  private readonly client: UpstreamHttpClient;
  private readonly token: ClientCredentialsToken;
  private readonly basePath: string;

  constructor(config: Required<FlowmailerConfig>, registry: UpstreamRegistry) {
    this.client = registry.client(config.apiUrl);
    const base = new URL(config.apiUrl).pathname.replace(/\/$/, '');
    this.basePath = `${base}/${encodeURIComponent(config.accountId)}`;
    this.token = new ClientCredentialsToken(registry.client(config.tokenUrl), {
      tokenUrl: config.tokenUrl,
      clientId: config.clientId,
      clientSecret: config.clientSecret,
      scope: 'api',
      headers: { Accept: MEDIA_TYPE },
    });
  }

  async page(position: string, count: number, signal?: AbortSignal): Promise<FlowmailerEventPage> {
    const response = await this.get(`${this.basePath}/message_events?sortorder=ASC`, signal, {
      Range: `items=${position}:${count}`,
    });
    const body = parseJson(response.body);
    if (!Array.isArray(body)) throw new Error('Flowmailer message_events: the answer is not a JSON array');
    return { events: body.flatMap(toEvent), nextPosition: reference(response.headers['next-range']) };
  }

  /** The message, or undefined when Flowmailer no longer has it (404). */
  async message(id: string, signal?: AbortSignal): Promise<FlowmailerMessage | undefined> {
    const response = await this.get(`${this.basePath}/messages/${encodeURIComponent(id)}`, signal, {}, [404]);
    if (response.statusCode === 404) return undefined;
    const body = parseJson(response.body);
    if (body === null || typeof body !== 'object')
      throw new Error('Flowmailer message: the answer is not a JSON object');
    const { recipientAddress, headersIn } = body as { recipientAddress?: unknown; headersIn?: unknown };
    const header = Array.isArray(headersIn)
      ? (headersIn as { name?: unknown; value?: unknown }[]).find(
          (entry) =>
            typeof entry?.name === 'string' &&
            entry.name.toLowerCase() === GATEWAY_MESSAGE_ID_HEADER.toLowerCase(),
        )
      : undefined;
    const gatewayMessageId = typeof header?.value === 'string' ? header.value.trim() : undefined;
    return {
      recipientAddress: typeof recipientAddress === 'string' ? recipientAddress : undefined,
      gatewayMessageId:
        gatewayMessageId && GATEWAY_ID.test(gatewayMessageId) ? gatewayMessageId.toLowerCase() : undefined,
    };
  }

  private async get(
    path: string,
    signal: AbortSignal | undefined,
    headers: Record<string, string>,
    alsoExpected: readonly number[] = [],
  ): Promise<UpstreamResponse> {
    let token = await this.token.get(signal);
    let response = await this.send(path, token, headers, signal);
    if (response.statusCode === 401) {
      this.token.invalidate(token);
      token = await this.token.get(signal);
      response = await this.send(path, token, headers, signal);
    }
    const { statusCode } = response;
    if ((statusCode >= 200 && statusCode <= 299) || alsoExpected.includes(statusCode)) return response;
    const detail = response.body.slice(0, MAX_DETAIL_LENGTH).replace(/\s+/g, ' ');
    throw new Error(`Flowmailer GET ${path.split('?')[0]} answered HTTP ${statusCode}: ${detail}`);
  }

  private send(
    path: string,
    token: string,
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<UpstreamResponse> {
    return this.client.request({
      method: 'GET',
      path,
      headers: { Authorization: `Bearer ${token}`, Accept: MEDIA_TYPE, ...headers },
      idempotent: true,
      signal,
    });
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function toEvent(value: unknown): FlowmailerMessageEvent[] {
  if (value === null || typeof value !== 'object') return [];
  const event = value as Record<string, unknown>;
  if (typeof event.id !== 'string' || typeof event.messageId !== 'string' || typeof event.type !== 'string')
    return [];
  const optional = (name: string) => (typeof event[name] === 'string' ? (event[name] as string) : undefined);
  return [
    {
      id: event.id,
      messageId: event.messageId,
      type: event.type,
      received: optional('received'),
      snippet: optional('snippet'),
      subType: optional('subType'),
      mta: optional('mta'),
    },
  ];
}

/** The reference of a `items=<reference>:<count>` header. */
function reference(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = /^items=([^:]*):\d+$/.exec(value?.trim() ?? '');
  return match && match[1] !== '' ? match[1] : undefined;
}
