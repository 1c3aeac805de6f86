import { DynamicModule, Global, Module } from '@nestjs/common';
import { LoadedConfig } from './loaded-config';

/** Makes each loaded slice injectable under its own token (`@InjectConfig(slice)`). */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: LoadedConfig): DynamicModule {
    const providers = config.providers();
    return {
      module: ConfigModule,
      providers,
      exports: providers.map((provider) => (provider as { provide: symbol }).provide),
    };
  }
}
