import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Options } from '@grpc/proto-loader';

const MAIL_GATEWAY_PROTO = 'mailgateway/v1/mail_gateway.proto';

/** The proto/ folder, found from here whether running from src/ (tests) or dist/ (built). */
function findProtoRoot(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, MAIL_GATEWAY_PROTO))) return candidate;
  }
  throw new Error(`${MAIL_GATEWAY_PROTO} not found above ${__dirname}`);
}

export const PROTO_ROOT = findProtoRoot();
export const MAIL_GATEWAY_PROTO_PATH = join(PROTO_ROOT, MAIL_GATEWAY_PROTO);
export const MAIL_GATEWAY_ADMIN_PROTO_PATH = join(PROTO_ROOT, 'mailgateway/v1/admin.proto');
export const MAIL_GATEWAY_PACKAGE = 'mailgateway.v1';
/**
 * The contract compiled by buf (`npm run proto:generate`): a FileDescriptorSet of every file as
 * written, with its imports and comments. Server reflection serves it, so tools see the proto itself.
 */
export const MAIL_GATEWAY_DESCRIPTOR_SET_PATH = join(PROTO_ROOT, 'mailgateway.binpb');

/** Loader options matching the generated types (camelCase fields, string enums, numeric longs). */
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
