import { randomUUID } from 'node:crypto';
import {
  loadPackageDefinition,
  Metadata,
  Server,
  ServerCredentials,
  ServerUnaryCall,
  sendUnaryData,
  ServerInterceptingCall,
  ServerInterceptor,
  ServiceClientConstructor,
  status,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import {
  encodeRetryInfoStatus,
  MAIL_GATEWAY_PROTO_PATH,
  PROTO_LOADER_OPTIONS,
  SendMailRequest,
  SendMailResponse,
  STATUS_DETAILS_TRAILER,
} from '@mailgateway/contracts';

/** How the fake answers one SendMail call. */
export type FakeAnswer =
  | { readonly kind: 'ok' }
  /** RESOURCE_EXHAUSTED advising a delay, as google.rpc.RetryInfo or as a retry-after entry. */
  | { readonly kind: 'throttled'; readonly retryDelayMs: number; readonly via?: 'retry-info' | 'retry-after' }
  /** UNAVAILABLE; with `committed`, after storing the message (an answer lost on the way back). */
  | { readonly kind: 'unavailable'; readonly committed?: boolean }
  | { readonly kind: 'invalid' };

export interface FakeCall {
  /** When the server answered, in epoch ms. */
  readonly answeredAt: number;
  readonly idempotencyKey: string;
  readonly answer: FakeAnswer;
}

/**
 * A real gRPC server speaking the MailGateway contract, whose SendMail answers a test scripts.
 * It stores messages by idempotency key like the gateway does, and records every call.
 */
export class FakeMailGatewayServer {
  readonly calls: FakeCall[] = [];
  /** Stored messages: idempotency key -> message id. */
  readonly messages = new Map<string, string>();

  private constructor(
    private readonly server: Server,
    readonly address: string,
    private readonly counter: { attempts: number },
  ) {}

  /** Every call that reached the server, also those refused before the script (too large). */
  get attempts(): number {
    return this.counter.attempts;
  }

  /** `maxReceiveMessageBytes` is the server's receive limit, as the gateway's follows MAX_MESSAGE_BYTES. */
  static async start(
    script: (call: { index: number; idempotencyKey: string }) => FakeAnswer,
    { maxReceiveMessageBytes = 10 * 1024 * 1024 }: { maxReceiveMessageBytes?: number } = {},
  ) {
    const definition = loadPackageDefinition(loadSync(MAIL_GATEWAY_PROTO_PATH, PROTO_LOADER_OPTIONS));
    const v1 = (definition.mailgateway as Record<string, Record<string, ServiceClientConstructor>>).v1;
    const counter = { attempts: 0 };
    // Counts a call when its metadata arrives, before grpc-js reads (and may refuse) its message.
    const countAttempts: ServerInterceptor = (_method, call) =>
      new ServerInterceptingCall(call, {
        start: (next) =>
          next({
            onReceiveMetadata: (metadata, nextMetadata) => {
              counter.attempts++;
              nextMetadata(metadata);
            },
          }),
      });
    const server = new Server({
      'grpc.max_receive_message_length': maxReceiveMessageBytes,
      interceptors: [countAttempts],
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    const fake = new FakeMailGatewayServer(server, `127.0.0.1:${port}`, counter);
    server.addService(v1.MailGateway.service, {
      sendMail: (
        call: ServerUnaryCall<SendMailRequest, SendMailResponse>,
        callback: sendUnaryData<SendMailResponse>,
      ) => {
        const { idempotencyKey } = call.request;
        const answer = script({ index: fake.calls.length, idempotencyKey });
        fake.calls.push({ answeredAt: Date.now(), idempotencyKey, answer });
        fake.answer(answer, idempotencyKey, callback);
      },
    });
    return fake;
  }

  callsFor(idempotencyKey: string): FakeCall[] {
    return this.calls.filter((call) => call.idempotencyKey === idempotencyKey);
  }

  close(): void {
    this.server.forceShutdown();
  }

  private answer(answer: FakeAnswer, key: string, callback: sendUnaryData<SendMailResponse>): void {
    switch (answer.kind) {
      case 'ok': {
        const replayed = key !== '' && this.messages.has(key);
        return callback(null, {
          messageId: this.store(key),
          replayed,
          acceptedAt: undefined,
          suppressedRecipients: [],
        });
      }
      case 'throttled': {
        const metadata = new Metadata();
        const details = 'rate limit reached; retry later';
        if (answer.via === 'retry-after') metadata.set('retry-after', String(answer.retryDelayMs / 1000));
        else {
          metadata.set(
            STATUS_DETAILS_TRAILER,
            encodeRetryInfoStatus(status.RESOURCE_EXHAUSTED, details, answer.retryDelayMs),
          );
        }
        return callback({ code: status.RESOURCE_EXHAUSTED, details, metadata });
      }
      case 'unavailable':
        if (answer.committed) this.store(key);
        return callback({ code: status.UNAVAILABLE, details: 'unavailable' });
      case 'invalid':
        return callback({
          code: status.INVALID_ARGUMENT,
          details: 'mail.to: at least one recipient is required',
        });
    }
  }

  private store(key: string): string {
    const existing = key ? this.messages.get(key) : undefined;
    if (existing) return existing;
    const messageId = randomUUID();
    this.messages.set(key || messageId, messageId);
    return messageId;
  }
}
