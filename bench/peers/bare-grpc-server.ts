// The accept baseline: a bare @grpc/grpc-js server for the same contract whose handlers do nothing.
import { loadSync } from '@grpc/proto-loader';
import { loadPackageDefinition, Server, ServerCredentials, ServiceClientConstructor } from '@grpc/grpc-js';
import { PROTO_FILE, PROTO_LOADER_OPTIONS } from '../proto';

const port = Number(process.argv[2]);
const definition = loadPackageDefinition(loadSync(PROTO_FILE, PROTO_LOADER_OPTIONS)) as unknown as {
  mailgateway: { v1: { MailGateway: ServiceClientConstructor } };
};
const reply = {
  messageId: '00000000-0000-4000-8000-000000000000',
  acceptedAt: { seconds: 0, nanos: 0 },
  replayed: false,
};
const server = new Server({ 'grpc.max_receive_message_length': 11 * 1024 * 1024 });
server.addService(definition.mailgateway.v1.MailGateway.service, {
  sendMail: (_call: unknown, callback: (error: null, response: unknown) => void) => callback(null, reply),
  sendMailBatch: (_call: unknown, callback: (error: null, response: unknown) => void) =>
    callback(null, { results: [] }),
  getMessage: (_call: unknown, callback: (error: null, response: unknown) => void) => callback(null, {}),
});
server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error) => {
  if (error) throw error;
  console.log('listening');
});
