import { credentials, loadPackageDefinition, Metadata, status } from '@grpc/grpc-js';
import type { Client, GrpcObject, ServiceClientConstructor, ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import {
  CancelMessageResponse,
  CancelMessagesResponse,
  MAIL_GATEWAY_PROTO_PATH,
  PROTO_LOADER_OPTIONS,
} from '@mailgateway/contracts';
import { TEST_API_KEY } from '@mailgateway/testing';

type Callback = (error: ServiceError | null, response?: unknown) => void;
type RawClient = Client &
  Record<string, (request: object, metadata: Metadata, options: object, done: Callback) => void>;

/**
 * How one cancel of one id was answered: cancelled; refused because an attempt holds the message
 * (that attempt's number); refused because the message is final (the status it names); or
 * anything else (code and message), which a cancel of an existing message should never get.
 */
export type CancelAnswer =
  | { readonly kind: 'cancelled' }
  | { readonly kind: 'being-sent'; readonly attempt: number }
  | { readonly kind: 'final'; readonly status: string }
  | { readonly kind: 'other'; readonly code: string; readonly message: string };

/**
 * CancelMessage and CancelMessages over a raw grpc-js stub of MailGateway, with the test API key,
 * each call made once; every answer comes back as a CancelAnswer per id (never thrown).
 */
export class CancelClient {
  private readonly client: RawClient;

  constructor(address: string) {
    const tree = loadPackageDefinition(loadSync(MAIL_GATEWAY_PROTO_PATH, PROTO_LOADER_OPTIONS));
    const { MailGateway } = (tree.mailgateway as GrpcObject).v1 as GrpcObject;
    this.client = new (MailGateway as ServiceClientConstructor)(address, credentials.createInsecure(), {
      'grpc.enable_retries': 0,
    }) as RawClient;
  }

  async cancelMessage(messageId: string): Promise<CancelAnswer> {
    try {
      await this.call<CancelMessageResponse>('cancelMessage', { messageId });
      return { kind: 'cancelled' };
    } catch (error) {
      const { code, details } = error as ServiceError;
      return answerOf(status[code] ?? String(code), details);
    }
  }

  /** One CancelMessages call; one answer per id, in order (a failed call answers every id alike). */
  async cancelMessages(messageIds: readonly string[]): Promise<CancelAnswer[]> {
    try {
      const { results } = await this.call<CancelMessagesResponse>('cancelMessages', { messageIds });
      return results.map((result) =>
        result.cancelled ? { kind: 'cancelled' } : answerOf(result.rejected!.code, result.rejected!.reason),
      );
    } catch (error) {
      const { code, details } = error as ServiceError;
      return messageIds.map(() => ({ kind: 'other', code: status[code] ?? String(code), message: details }));
    }
  }

  close(): void {
    this.client.close();
  }

  private call<T>(method: string, request: object): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const metadata = new Metadata();
      metadata.set('authorization', `Bearer ${TEST_API_KEY}`);
      this.client[method](request, metadata, { deadline: Date.now() + 30_000 }, (error, response) =>
        error ? reject(error) : resolve(response as T),
      );
    });
  }
}

function answerOf(code: string, message: string): CancelAnswer {
  if (code === 'FAILED_PRECONDITION') {
    const attempt = /attempt (\d+) is sending the message now/.exec(message);
    if (attempt) return { kind: 'being-sent', attempt: Number(attempt[1]) };
    const final = /the message is already (\w+)/.exec(message);
    if (final) return { kind: 'final', status: final[1] };
  }
  return { kind: 'other', code, message };
}
