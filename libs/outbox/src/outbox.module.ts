import { Logger, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { GATEWAY_CONFIG, GatewayConfig } from '@mailgateway/config';
import { DataSourceOptions } from 'typeorm';
import { openOutboxDataSource, outboxDataSourceOptions, prepareOutboxSchema } from './outbox-data-source';
import { OutboxMonitor } from './outbox-monitor';
import { OutboxRepository } from './outbox.repository';
import { TransactionRunner } from './transaction-runner';

@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [GATEWAY_CONFIG],
      // Start-up fails fast on a database it cannot reach; the orchestrator restarts the process.
      useFactory: (config: GatewayConfig) => ({
        ...outboxDataSourceOptions(config.database),
        retryAttempts: 0,
        // Other libs keep their tables in this database (auth: sources and keys) via forFeature.
        autoLoadEntities: true,
      }),
      dataSourceFactory: async (options) => {
        const dataSource = await openOutboxDataSource(options as DataSourceOptions);
        try {
          const applied = await prepareOutboxSchema(dataSource);
          if (applied.length > 0) new Logger('Outbox').log(`Applied migrations: ${applied.join(', ')}`);
        } catch (error) {
          await dataSource.destroy();
          throw error;
        }
        return dataSource;
      },
    }),
  ],
  providers: [TransactionRunner, OutboxRepository, OutboxMonitor],
  exports: [OutboxRepository, OutboxMonitor, TransactionRunner],
})
export class OutboxModule {}
