import { QueryFailedError } from 'typeorm';
import { StorageUnavailableException } from './storage-unavailable.exception';

/**
 * Driver and PostgreSQL codes of faults a caller should retry: the database is down, restarting,
 * out of space, or (during a failover) a standby not yet promoted.
 */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08003',
  '08006', // connection failures
  '55000', // database not accepting connections (ALLOW_CONNECTIONS false, during maintenance)
  '25006', // read_only_sql_transaction: the address leads to a standby still in recovery
  '53100', // disk_full
  '53300', // too_many_connections
  'SQLITE_FULL',
  'SQLITE_BUSY',
  'SQLITE_IOERR',
]);

/** What pg says when its pool cannot hand out a connection or one is cut. */
const UNAVAILABLE_MESSAGES = /timeout exceeded when trying to connect|Connection terminated/i;

/** A row with this key exists already (PostgreSQL 23505, SQLite's constraint errors). */
export function isUniqueViolation(error: unknown): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const code = (error.driverError as { code?: string } | undefined)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** Whether the error, or one it wraps, says the database cannot be used right now. */
export function isStorageUnavailable(error: unknown): boolean {
  for (
    let current = error as
      { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown } | undefined;
    current;
    current = (current.driverError ?? current.cause) as typeof current
  ) {
    if (current instanceof StorageUnavailableException) return true;
    if (typeof current.code === 'string' && UNAVAILABLE_CODES.has(current.code)) return true;
    if (typeof current.message === 'string' && UNAVAILABLE_MESSAGES.test(current.message)) return true;
  }
  return false;
}

/** The error as callers should see it: a StorageUnavailableException when the database is gone. */
export function classifyStorageError(error: unknown): unknown {
  if (error instanceof StorageUnavailableException) return error;
  return isStorageUnavailable(error) ? new StorageUnavailableException(error) : error;
}
