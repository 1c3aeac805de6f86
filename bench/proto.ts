import { join } from 'node:path';
import type { Options } from '@grpc/proto-loader';

const ROOT = join(__dirname, '..', '..');
export const PROTO_ROOT = join(ROOT, 'proto');
export const PROTO_FILE = join(PROTO_ROOT, 'mailgateway/v1/mail_gateway.proto');
export const GATEWAY_MAIN = join(ROOT, 'dist/apps/gateway/apps/gateway/src/main.js');
export const PROTO_LOADER_OPTIONS: Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};
