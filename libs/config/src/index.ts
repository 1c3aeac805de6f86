export * from './setting';
export * from './config-slice';
export { ConfigurationException } from './configuration.exception';
export { LoadedConfig, loadConfigSlice } from './loaded-config';
export { ConfigModule } from './config.module';
export { renderSettingsTable } from './settings-table';
