import { DynamicModule, Global, Logger, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSourceOptions } from 'typeorm';
import { dataSourceOptions, openDataSource } from './data-source';
import { DatabaseMonitor } from './database-monitor';
import type { DatabaseSchema } from './database-schema';
import { DatabaseConfig, databaseConfig } from './database.settings';
import { prepareSchema } from './migrations';
import { TransactionRunner } from './transaction-runner';

/**
 * The one database of the process, holding the tables of every lib in `schema`. Global: libs that
 * keep tables inject TransactionRunner (and TypeORM's DataSource) without importing this module.
 */
@Global()
@Module({})
export class DatabaseModule {
  static forRoot(schema: DatabaseSchema): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [
        TypeOrmModule.forRootAsync({
          inject: [databaseConfig.token],
          // Start-up fails fast on a database it cannot reach; the orchestrator restarts the process.
          useFactory: (database: DatabaseConfig) => ({
            ...dataSourceOptions(database, schema),
            retryAttempts: 0,
          }),
          dataSourceFactory: async (options) => {
            const dataSource = await openDataSource(options as DataSourceOptions);
            try {
              const applied = await prepareSchema(dataSource);
              if (applied.length > 0) new Logger('Database').log(`Applied migrations: ${applied.join(', ')}`);
            } catch (error) {
              await dataSource.destroy();
              throw error;
            }
            return dataSource;
          },
        }),
      ],
      providers: [TransactionRunner, DatabaseMonitor],
      exports: [TransactionRunner, DatabaseMonitor],
    };
  }
}
