import { credentials, Client, Metadata, ServiceError } from '@grpc/grpc-js';
import {
  createFileRegistry,
  DescMessage,
  fromBinary,
  fromJson,
  JsonValue,
  Message,
  Registry,
  toBinary,
  toJson,
} from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { descriptorsByReflection, TEST_API_KEY, waitFor } from '@mailgateway/testing';
import { gatewayForAllTests } from './support/test-gateway';

/**
 * What grpcurl does: the gateway's types come from server reflection alone (no proto file of this
 * repository is read), are built into a registry that insists on each file's imports, and serve
 * a dynamic SendMail and GetMessage call in proto JSON.
 */
describe('Server reflection, as a tool reads it', () => {
  const gateway = gatewayForAllTests('sqlite');
  let registry: Registry;

  beforeAll(async () => {
    const [declaring, ...imported] = (
      await descriptorsByReflection(gateway.address, 'mailgateway.v1.MailGateway')
    ).map((encoded) => fromBinary(FileDescriptorProtoSchema, encoded));
    // Each import is resolved by file name, as protoc and grpcurl do: a missing one is an error.
    registry = createFileRegistry(declaring, (name) => imported.find((file) => file.name === name));
  });

  /** Calls `method` of MailGateway with a request given in proto JSON; resolves with the JSON answer. */
  const call = async (method: string, request: JsonValue): Promise<JsonValue> => {
    const service = registry.getService('mailgateway.v1.MailGateway')!;
    const { input, output } = service.methods.find(({ name }) => name === method)! as {
      input: DescMessage;
      output: DescMessage;
    };
    const client = new Client(gateway.address, credentials.createInsecure());
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${TEST_API_KEY}`);
    try {
      const answer = await new Promise<Message | undefined>((resolve, reject) =>
        client.makeUnaryRequest(
          `/${service.typeName}/${method}`,
          (message: Message) => Buffer.from(toBinary(input, message)),
          (bytes: Buffer) => fromBinary(output, bytes),
          fromJson(input, request, { registry }),
          metadata,
          (error: ServiceError | null, response?: Message) => (error ? reject(error) : resolve(response)),
        ),
      );
      return toJson(output, answer!, { registry, useProtoFieldName: true });
    } finally {
      client.close();
    }
  };

  it('describes the contract as written: proto field names, imports resolved', () => {
    const fields = (type: string) => registry.getMessage(type)!.fields.map(({ name }) => name);
    expect(fields('mailgateway.v1.SendMailResponse')).toEqual([
      'message_id',
      'accepted_at',
      'replayed',
      'suppressed_recipients',
    ]);
    expect(fields('mailgateway.v1.Mail')).toEqual(expect.arrayContaining(['text_body', 'reply_to']));
    expect(registry.getMessage('mailgateway.v1.SendMailResponse')!.field.acceptedAt.message?.typeName).toBe(
      'google.protobuf.Timestamp',
    );
    expect(registry.getService('mailgateway.v1.MailGateway')!.methods.map(({ name }) => name)).toEqual(
      expect.arrayContaining(['SendMail', 'SendMailBatch', 'GetMessage']),
    );
  });

  it('carries a dynamic SendMail call, and GetMessage finds the message it accepted', async () => {
    const sent = (await call('SendMail', {
      mail: {
        from: { address: 'app@example.com' },
        to: [{ address: 'ada@example.com', name: 'Ada' }],
        subject: 'Through reflection',
        text_body: 'Hello',
      },
      idempotency_key: 'reflection-1',
    })) as { message_id: string; accepted_at: string };

    expect(sent.message_id).toMatch(/\S/);
    expect(Number.isNaN(Date.parse(sent.accepted_at))).toBe(false);
    const delivered = await waitFor('the message to be delivered', async () => {
      const message = (await call('GetMessage', { message_id: sent.message_id })) as { status: string };
      return message.status === 'MESSAGE_STATUS_DELIVERED' ? message : undefined;
    });
    expect(delivered).toMatchObject({ message_id: sent.message_id, status: 'MESSAGE_STATUS_DELIVERED' });
  });
});
