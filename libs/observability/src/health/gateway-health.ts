import type { Server } from '@grpc/grpc-js';
import { loadSync, PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { FileDescriptorProto, FileDescriptorSet } from 'protobufjs/ext/descriptor';
import { HealthImplementation, protoPath as healthProtoPath, ServingStatus } from 'grpc-health-check';

/** Health service names: "" is readiness (what Kubernetes' gRPC probe asks by default). */
export const READINESS_SERVICE = '';
/** Liveness: SERVING as long as the process answers; probes name it with `service: liveness`. */
export const LIVENESS_SERVICE = 'liveness';

/**
 * The process's health, served as grpc.health.v1 and on the HTTP probe paths. Readiness starts
 * NOT_SERVING, follows the readiness checks, and stays NOT_SERVING once shutdown has begun.
 */
export class GatewayHealth {
  private readonly implementation: HealthImplementation;
  private ready = false;
  private stopping = false;
  private reason = 'starting';

  constructor(private readonly serviceNames: readonly string[] = []) {
    this.implementation = new HealthImplementation({
      [READINESS_SERVICE]: 'NOT_SERVING',
      [LIVENESS_SERVICE]: 'SERVING',
      ...Object.fromEntries(serviceNames.map((name) => [name, 'NOT_SERVING' as ServingStatus])),
    });
  }

  /**
   * Adds grpc.health.v1.Health and server reflection to `server`. Reflection serves `contract` (an
   * encoded FileDescriptorSet) file by file as written: proto field names and each file's imports,
   * which a package definition loaded for the server (camelCase, files merged per package) lacks.
   */
  addToServer(server: Server, contract: Uint8Array): void {
    this.implementation.addToServer(server);
    new ReflectionService({
      ...reflectedFiles(contract),
      ...loadSync(healthProtoPath, { keepCase: true }),
    }).addToServer(server);
  }

  /** The latest readiness check: ready, or not with a reason for the probes. */
  setReady(ready: boolean, reason = ''): void {
    this.ready = ready;
    this.reason = ready ? '' : reason;
    this.publish();
  }

  /** From now on readiness is NOT_SERVING, whatever the checks find. */
  startShutdown(): void {
    this.stopping = true;
    this.publish();
  }

  get isReady(): boolean {
    return this.ready && !this.stopping;
  }

  get notReadyReason(): string {
    return this.stopping ? 'shutting down' : this.reason;
  }

  private publish(): void {
    const status: ServingStatus = this.isReady ? 'SERVING' : 'NOT_SERVING';
    for (const name of [READINESS_SERVICE, ...this.serviceNames]) this.implementation.setStatus(name, status);
  }
}

/** `set`'s files in the shape ReflectionService reads: any entry with `fileDescriptorProtos`. */
function reflectedFiles(set: Uint8Array): PackageDefinition {
  const { file } = FileDescriptorSet.decode(set) as unknown as { file: object[] };
  const files = file.map((descriptor) => FileDescriptorProto.encode(descriptor).finish());
  return { contract: { fileDescriptorProtos: files } } as unknown as PackageDefinition;
}
