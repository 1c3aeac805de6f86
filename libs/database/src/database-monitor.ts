import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { isStorageUnavailable } from './storage-errors';

/** Whether the database can serve: it answers, and its schema has no pending migration. */
@Injectable()
export class DatabaseMonitor {
  constructor(private readonly dataSource: DataSource) {}

  /** Null when ready; otherwise why not, in words for the health status and the log. */
  async notReadyReason(): Promise<string | null> {
    try {
      await this.dataSource.query('SELECT 1');
    } catch {
      return 'database unreachable';
    }
    try {
      return (await this.dataSource.showMigrations()) ? 'database schema has pending migrations' : null;
    } catch (error) {
      // The connection went between the two queries (terminated, refused): unreachable, not a schema fault.
      return isStorageUnavailable(error) ? 'database unreachable' : 'database schema could not be read';
    }
  }
}
