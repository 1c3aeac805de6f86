export * from './config.module';
export * from './gateway-config';
export { settings } from './settings';
export type { Setting, SettingName } from './settings';
export { renderSettingsTable } from './settings-table';
export { isLocalAddress, localHostProblem } from './local-addresses';
