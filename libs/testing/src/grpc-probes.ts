import { dirname, join } from 'node:path';
import { credentials, loadPackageDefinition, ServiceError, status } from '@grpc/grpc-js';
import type { Client, GrpcObject, ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';

interface HealthClient extends Client {
  Check(
    request: { service: string },
    options: { deadline: Date },
    callback: (error: ServiceError | null, response?: { status: string }) => void,
  ): void;
}

interface ReflectionStream extends NodeJS.EventEmitter {
  write(request: { list_services: string }): void;
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
  const reflectionProto = join(
    dirname(require.resolve('@grpc/reflection/package.json')),
    'build/proto/grpc/reflection/v1/reflection.proto',
  );
  const tree = loadPackageDefinition(loadSync(reflectionProto, { keepCase: true }));
  const Reflection = serviceAt(tree, 'grpc.reflection.v1.ServerReflection');
  const client = new Reflection(address, credentials.createInsecure()) as unknown as ReflectionClient;
  try {
    return await new Promise<string[]>((resolve, reject) => {
      const stream = client.ServerReflectionInfo();
      stream.on('data', (response: { list_services_response?: { service: { name: string }[] } }) => {
        resolve(response.list_services_response?.service.map(({ name }) => name) ?? []);
        stream.end();
      });
      stream.on('error', reject);
      stream.write({ list_services: '' });
    });
  } finally {
    client.close();
  }
}
