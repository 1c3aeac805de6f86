import {
  ClientReadableStream,
  credentials,
  loadPackageDefinition,
  Metadata,
  ServiceClientConstructor,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import {
  ListEventsRequest,
  ListEventsResponse,
  PROTO_FILE,
  PROTO_LOADER_OPTIONS,
  StreamEventsRequest,
  StreamEventsResponse,
} from './proto';

type Unary = (
  request: unknown,
  metadata: Metadata,
  callback: (error: Error | null, response: unknown) => void,
) => void;
interface Stub {
  sendMail: Unary;
  sendMailBatch: Unary;
  getMessage: Unary;
  listEvents: Unary;
  streamEvents(request: StreamEventsRequest, metadata: Metadata): ClientReadableStream<StreamEventsResponse>;
  close(): void;
}

let service: ServiceClientConstructor | undefined;

/** Load from several channels (HTTP/2 connections), the way many callers would arrive. */
export class BenchClient {
  private readonly stubs: Stub[];
  private next = 0;

  private readonly metadata = new Metadata();

  constructor(address: string, apiKey: string, channels = 4) {
    this.metadata.set('authorization', `Bearer ${apiKey}`);
    service ??= (
      loadPackageDefinition(loadSync(PROTO_FILE, PROTO_LOADER_OPTIONS)) as unknown as {
        mailgateway: { v1: { MailGateway: ServiceClientConstructor } };
      }
    ).mailgateway.v1.MailGateway;
    this.stubs = Array.from(
      { length: channels },
      (_, index) =>
        new service!(address, credentials.createInsecure(), {
          'grpc.max_send_message_length': -1,
          // Distinct channels, not one shared subchannel.
          'grpc.channel_id': index,
        } as Record<string, number>) as unknown as Stub,
    );
  }

  sendMail(request: unknown): Promise<{ messageId: string }> {
    return this.call('sendMail', request) as Promise<{ messageId: string }>;
  }

  sendMailBatch(request: unknown): Promise<{ results: { accepted?: unknown }[] }> {
    return this.call('sendMailBatch', request) as Promise<{ results: { accepted?: unknown }[] }>;
  }

  getMessage(request: { messageId: string }): Promise<unknown> {
    return this.call('getMessage', request);
  }

  listEvents(request: ListEventsRequest): Promise<ListEventsResponse> {
    return this.call('listEvents', request) as Promise<ListEventsResponse>;
  }

  /** A server stream of the feed; the caller listens for 'data' and ends it with cancel(). */
  streamEvents(request: StreamEventsRequest): ClientReadableStream<StreamEventsResponse> {
    return this.stubs[this.next++ % this.stubs.length].streamEvents(request, this.metadata);
  }

  close(): void {
    for (const stub of this.stubs) stub.close();
  }

  private call(
    method: 'sendMail' | 'sendMailBatch' | 'getMessage' | 'listEvents',
    request: unknown,
  ): Promise<unknown> {
    const stub = this.stubs[this.next++ % this.stubs.length];
    return new Promise((resolve, reject) =>
      stub[method](request, this.metadata, (error, response) => (error ? reject(error) : resolve(response))),
    );
  }
}

/** A SendMailRequest as protobuf bytes, the way grpc-js would put it on the wire. */
export function encodeSendMailRequest(request: unknown): Buffer {
  const definition = loadSync(PROTO_FILE, PROTO_LOADER_OPTIONS)['mailgateway.v1.MailGateway'] as unknown as {
    SendMail: { requestSerialize(value: unknown): Buffer };
  };
  return definition.SendMail.requestSerialize(request);
}

let sequence = 0;

/** A typical transactional message (about 1 KiB), with a fresh idempotency key. */
export function aBenchMessage(): { mail: unknown; idempotencyKey: string } {
  sequence++;
  return {
    idempotencyKey: `bench-${process.pid}-${sequence}`,
    mail: {
      from: { address: 'billing@example.com', name: 'Billing' },
      to: [{ address: `customer${sequence}@example.org`, name: 'A Customer' }],
      cc: [],
      bcc: [],
      replyTo: [],
      subject: `Your invoice ${sequence}`,
      textBody: 'Hello, your invoice is ready. '.repeat(25),
      htmlBody: '',
      headers: [],
      attachments: [],
      tags: ['invoice'],
      metadata: { customer: String(sequence) },
    },
  };
}
