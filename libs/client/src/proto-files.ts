import { join } from 'node:path';
import type { Options } from '@grpc/proto-loader';

/**
 * The proto/ folder of this package: beside src/ in the repository and beside lib/ in the built
 * package, so it is found from this file alone, wherever the package is installed.
 */
export const PROTO_ROOT = join(__dirname, '..', 'proto');
export const MAIL_GATEWAY_PROTO_PATH = join(PROTO_ROOT, 'mailgateway/v1/mail_gateway.proto');
export const MAIL_GATEWAY_ADMIN_PROTO_PATH = join(PROTO_ROOT, 'mailgateway/v1/admin.proto');
export const RPC_STATUS_PROTO_PATHS = [
  join(PROTO_ROOT, 'google/rpc/status.proto'),
  join(PROTO_ROOT, 'google/rpc/error_details.proto'),
];

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
