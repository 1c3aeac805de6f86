import type { DriverDefinition } from '../kit';
import { SandboxDriver } from './sandbox.driver';
import { sandboxConfig } from './sandbox.settings';

export const sandbox: DriverDefinition = { name: 'sandbox', driver: SandboxDriver, config: sandboxConfig };
export { SandboxDriver } from './sandbox.driver';
export type { SandboxRecord } from './sandbox.driver';
