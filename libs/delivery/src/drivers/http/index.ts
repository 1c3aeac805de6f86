import type { DriverDefinition } from '../kit';
import { HttpDriver } from './http.driver';
import { httpDriverConfig } from './http.settings';

export const http: DriverDefinition = { name: 'http', driver: HttpDriver, config: httpDriverConfig };
export { HttpDriver } from './http.driver';
