import { dirname, join } from 'node:path';
import { credentials, loadPackageDefinition, ServiceError, status } from '@grpc/grpc-js';
import type { Client, GrpcObject, ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';

interface HealthClient extends Client {
  Check(
    request: { service: string },
    options: { deadline: Date },
    callback: (error: ServiceError | null, response?: { status: string }) => void,
  ): void;
}

type ReflectionRequest =
  { list_services: string } | { file_containing_symbol: string } | { file_by_filename: string };

interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

interface ReflectionStream extends NodeJS.EventEmitter {
  write(request: ReflectionRequest): void;
  end(): void;
}

interface ReflectionClient extends Client {
  ServerReflectionInfo(): ReflectionStream;
}

function serviceAt(tree: GrpcObject, path: string): ServiceClientConstructor {
  return path
    .split('.')
    .reduce<unknown>((node, name) => (node as GrpcObject)[name], tree) as ServiceClientConstructor;
}

/**
 * grpc.health.v1.Health/Check, as Kubernetes' gRPC probe and grpcurl call it: resolves to the
 * serving status, or to the gRPC status name when the call fails (e.g. NOT_FOUND, UNAVAILABLE).
 */
export async function checkHealth(address: string, service = ''): Promise<string> {
  const tree = loadPackageDefinition(loadSync(healthProtoPath, { enums: String }));
  const Health = serviceAt(tree, 'grpc.health.v1.Health');
  const client = new Health(address, credentials.createInsecure()) as unknown as HealthClient;
  try {
    return await new Promise<string>((resolve) =>
      client.Check({ service }, { deadline: new Date(Date.now() + 5_000) }, (error, response) =>
        resolve(error ? status[error.code] : (response?.status ?? 'UNKNOWN')),
      ),
    );
  } finally {
    client.close();
  }
}

/** Service names the server lists through grpc.reflection.v1 (what `grpcurl list` prints). */
export async function listServicesByReflection(address: string): Promise<string[]> {
  const [response] = await askReflection(address, [{ list_services: '' }]);
  return response.list_services_response?.service.map(({ name }) => name) ?? [];
}

/**
 * The encoded FileDescriptorProtos of the file declaring `symbol` and of every file it imports,
 * fetched the way grpcurl does: file_containing_symbol, then file_by_filename for each import not
 * yet received. Rejects when the server answers an error (e.g. an import it does not know).
 */
export async function descriptorsByReflection(address: string, symbol: string): Promise<Buffer[]> {
  const files = new Map<string, Buffer>();
  let requests: ReflectionRequest[] = [{ file_containing_symbol: symbol }];
  while (requests.length > 0) {
    for (const response of await askReflection(address, requests)) {
      if (response.error_response) throw new Error(`reflection: ${response.error_response.error_message}`);
      for (const encoded of response.file_descriptor_response?.file_descriptor_proto ?? []) {
        files.set(fromBinary(FileDescriptorProtoSchema, encoded).name, encoded);
      }
    }
    const imported = [...files.values()].flatMap(
      (encoded) => fromBinary(FileDescriptorProtoSchema, encoded).dependency,
    );
    requests = [...new Set(imported)]
      .filter((name) => !files.has(name))
      .map((name) => ({ file_by_filename: name }));
  }
  return [...files.values()];
}

/** Sends `requests` on one grpc.reflection.v1 stream and resolves with the answers, in order. */
async function askReflection(address: string, requests: ReflectionRequest[]): Promise<ReflectionResponse[]> {
  const reflectionProto = join(
    dirname(require.resolve('@grpc/reflection/package.json')),
    'build/proto/grpc/reflection/v1/reflection.proto',
  );
  const tree = loadPackageDefinition(loadSync(reflectionProto, { keepCase: true }));
  const Reflection = serviceAt(tree, 'grpc.reflection.v1.ServerReflection');
  const client = new Reflection(address, credentials.createInsecure()) as unknown as ReflectionClient;
  try {
    return await new Promise<ReflectionResponse[]>((resolve, reject) => {
      const responses: ReflectionResponse[] = [];
      const stream = client.ServerReflectionInfo();
      stream.on('data', (response: ReflectionResponse) => {
        responses.push(response);
        if (responses.length === requests.length) {
          stream.end();
          resolve(responses);
        }
      });
      stream.on('error', reject);
      for (const request of requests) stream.write(request);
    });
  } finally {
    client.close();
  }
}
