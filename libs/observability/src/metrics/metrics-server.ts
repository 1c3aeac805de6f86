import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GatewayHealth } from '../health/gateway-health';
import type { GatewayMetrics } from './gateway-metrics';

/**
 * A plain HTTP server for Prometheus and for probes that do not speak gRPC:
 * GET /metrics, GET /livez (200 while the process answers), GET /readyz (200 when ready).
 */
export class MetricsServer {
  private server: Server | null = null;

  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly health: GatewayHealth,
  ) {}

  async listen(host: string, port: number): Promise<number> {
    const server = createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return this.send(response, 405, 'text/plain', 'method not allowed\n');
    }
    switch (path) {
      case '/metrics':
        try {
          return this.send(response, 200, this.metrics.contentType, await this.metrics.render());
        } catch {
          return this.send(response, 500, 'text/plain', 'metrics unavailable\n');
        }
      case '/livez':
        return this.send(response, 200, 'text/plain', 'ok\n');
      case '/readyz':
        return this.health.isReady
          ? this.send(response, 200, 'text/plain', 'ok\n')
          : this.send(response, 503, 'text/plain', `not ready: ${this.health.notReadyReason}\n`);
      default:
        return this.send(response, 404, 'text/plain', 'not found\n');
    }
  }

  private send(response: ServerResponse, code: number, contentType: string, body: string): void {
    response.writeHead(code, { 'content-type': contentType, 'cache-control': 'no-store' });
    response.end(body);
  }
}
