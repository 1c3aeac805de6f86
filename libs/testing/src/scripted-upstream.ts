import type { IncomingHttpHeaders } from 'node:http';
import type {
  UpstreamHttpClient,
  UpstreamRegistry,
  UpstreamRequest,
  UpstreamResponse,
} from '@mailgateway/delivery';

// Test double for driver specs: records every request and answers from a script. Real servers are
// exercised by the suites in test/.

export interface ScriptedReply {
  readonly statusCode: number;
  readonly headers?: IncomingHttpHeaders;
  /** A string is sent as is; anything else as JSON. */
  readonly body?: unknown;
  readonly bodyComplete?: boolean;
}

type Script = ScriptedReply | Error | ((request: UpstreamRequest) => ScriptedReply | Promise<ScriptedReply>);

export class ScriptedUpstream implements UpstreamHttpClient {
  readonly requests: UpstreamRequest[] = [];
  private readonly script: Script[] = [];

  constructor(readonly origin: string) {}

  /** Answers for the next requests, in order; an Error is thrown instead of answering. */
  reply(...answers: Script[]): this {
    this.script.push(...answers);
    return this;
  }

  async request(request: UpstreamRequest): Promise<UpstreamResponse> {
    this.requests.push(request);
    const next = this.script.shift();
    if (next === undefined)
      throw new Error(`ScriptedUpstream ${this.origin}: no reply scripted for ${request.path}`);
    if (next instanceof Error) throw next;
    const reply = typeof next === 'function' ? await next(request) : next;
    return {
      statusCode: reply.statusCode,
      headers: reply.headers ?? {},
      body:
        typeof reply.body === 'string'
          ? reply.body
          : reply.body === undefined
            ? ''
            : JSON.stringify(reply.body),
      bodyComplete: reply.bodyComplete ?? true,
    };
  }

  /** The JSON body of the n-th request. */
  json(index = 0): unknown {
    return JSON.parse(String(this.requests[index]?.body));
  }
}

/** Hands out one ScriptedUpstream per origin, as UpstreamRegistry does with real clients. */
export class ScriptedUpstreamRegistry {
  private readonly upstreams = new Map<string, ScriptedUpstream>();

  client(url: string): ScriptedUpstream {
    const origin = new URL(url).origin;
    let upstream = this.upstreams.get(origin);
    if (!upstream) {
      upstream = new ScriptedUpstream(origin);
      this.upstreams.set(origin, upstream);
    }
    return upstream;
  }

  /** This fake where the drivers' constructors expect the real registry. */
  asRegistry(): UpstreamRegistry {
    return this as unknown as UpstreamRegistry;
  }
}
