import { DataSource } from 'typeorm';
import { DatabaseMonitor } from './database-monitor';

/** A data source whose `SELECT 1` answers and whose migration check fails with `error`. */
function monitorWhoseMigrationCheckFails(error: Error): DatabaseMonitor {
  const dataSource = {
    query: () => Promise.resolve([{ '?column?': 1 }]),
    showMigrations: () => Promise.reject(error),
  } as unknown as DataSource;
  return new DatabaseMonitor(dataSource);
}

describe(DatabaseMonitor.name, () => {
  it('calls the database unreachable when its connection goes between the two checks', async () => {
    const terminated = Object.assign(new Error('terminating connection due to administrator command'), {
      code: '57P01',
    });

    expect(await monitorWhoseMigrationCheckFails(terminated).notReadyReason()).toBe('database unreachable');
  });

  it('calls the schema unreadable when the migration check fails for another reason', async () => {
    const denied = Object.assign(new Error('permission denied for table migrations'), { code: '42501' });

    expect(await monitorWhoseMigrationCheckFails(denied).notReadyReason()).toBe(
      'database schema could not be read',
    );
  });
});
