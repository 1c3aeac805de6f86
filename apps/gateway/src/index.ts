// The gateway's door for suites and benchmarks that build the app in their own process.
export {
  closeGatewayApp,
  configureGatewayApp,
  createGatewayApp,
  createGatewayObservability,
  grpcServerOptions,
} from './gateway-app';
export { GATEWAY_CONFIG_SLICES, GATEWAY_SCHEMA, loadGatewayConfig } from './gateway-config';
export { gatewayConfig } from './gateway.settings';
export type { GatewayConfig } from './gateway.settings';
export { GatewayModule } from './gateway.module';
