import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An OTLP/JSON attribute value, as the exporters encode one. */
interface OtlpValue {
  readonly stringValue?: string;
  readonly intValue?: number | string;
  readonly boolValue?: boolean;
  readonly doubleValue?: number;
}

interface OtlpAttribute {
  readonly key: string;
  readonly value: OtlpValue;
}

interface OtlpSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: number;
  readonly attributes?: OtlpAttribute[];
  readonly links?: { traceId: string; spanId: string }[];
}

interface OtlpExport {
  readonly resourceSpans: {
    readonly resource: { readonly attributes: OtlpAttribute[] };
    readonly scopeSpans: { readonly scope: { readonly name: string }; readonly spans: OtlpSpan[] }[];
  }[];
}

/** One received span, flattened: its scope, its attributes as plain values, and its resource's. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client. */
  readonly kind: number;
  readonly scope: string;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly resource: Readonly<Record<string, unknown>>;
  readonly links: readonly { traceId: string; spanId: string }[];
}

export const SPAN_KIND = { internal: 1, server: 2, client: 3 } as const;

/** An OTLP/HTTP collector for OTLP/JSON trace exports (OTEL_EXPORTER_OTLP_PROTOCOL=http/json). */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Every export body as received, to search for what must never be exported. */
  readonly bodies: string[] = [];

  private constructor(private readonly server: Server) {}

  static async start(): Promise<OtlpReceiver> {
    const server = createServer();
    const receiver = new OtlpReceiver(server);
    server.on('request', (request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        if (request.method !== 'POST' || request.url !== '/v1/traces') {
          return void response.writeHead(404).end();
        }
        if (!String(request.headers['content-type']).startsWith('application/json')) {
          return void response.writeHead(415).end('this receiver takes OTLP/JSON only');
        }
        const body = Buffer.concat(chunks).toString('utf8');
        receiver.bodies.push(body);
        receiver.record(JSON.parse(body) as OtlpExport);
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  /** The base URL for OTEL_EXPORTER_OTLP_ENDPOINT. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  inTrace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((span) => span.traceId === traceId);
  }

  /** Whether `span` descends from `ancestor` through its parents, as far as they were received. */
  descendsFrom(span: ReceivedSpan, ancestor: ReceivedSpan): boolean {
    for (let parent = this.parentOf(span); parent; parent = this.parentOf(parent)) {
      if (parent.spanId === ancestor.spanId) return true;
    }
    return false;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private parentOf(span: ReceivedSpan): ReceivedSpan | undefined {
    return span.parentSpanId
      ? this.spans.find((candidate) => candidate.spanId === span.parentSpanId)
      : undefined;
  }

  private record(payload: OtlpExport): void {
    for (const { resource, scopeSpans } of payload.resourceSpans) {
      for (const { scope, spans } of scopeSpans) {
        for (const span of spans) {
          this.spans.push({
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId || undefined,
            name: span.name,
            kind: span.kind,
            scope: scope.name,
            attributes: plain(span.attributes ?? []),
            resource: plain(resource.attributes),
            links: span.links ?? [],
          });
        }
      }
    }
  }
}

function plain(attributes: readonly OtlpAttribute[]): Record<string, unknown> {
  return Object.fromEntries(
    attributes.map(({ key, value }) => [
      key,
      value.stringValue ??
        value.boolValue ??
        value.doubleValue ??
        (value.intValue !== undefined ? Number(value.intValue) : undefined),
    ]),
  );
}
