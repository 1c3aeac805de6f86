import { ErrorCode } from '@mailgateway/errors';
import { QueryFailedError } from 'typeorm';
import { classifyStorageError, isStorageUnavailable, isUniqueViolation } from './storage-errors';
import { StorageUnavailableException } from './storage-unavailable.exception';

const queryFailed = (code: string) =>
  new QueryFailedError('INSERT ...', [], Object.assign(new Error('driver error'), { code }));

describe('storage errors', () => {
  it.each(['23505', 'SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_PRIMARYKEY'])(
    'reads %s as a unique violation',
    (code) => expect(isUniqueViolation(queryFailed(code))).toBe(true),
  );

  it('does not read other failures as unique violations', () => {
    expect(isUniqueViolation(queryFailed('23502'))).toBe(false);
    expect(isUniqueViolation(Object.assign(new Error('x'), { code: '23505' }))).toBe(false);
  });

  it.each([
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
    ['a PostgreSQL shutdown', queryFailed('57P01')],
    ['a full SQLite disk', queryFailed('SQLITE_FULL')],
    ['a write to a standby not yet promoted', queryFailed('25006')],
    ['a pool that cannot connect', new Error('timeout exceeded when trying to connect')],
    ['a wrapped cause', new Error('outer', { cause: Object.assign(new Error('inner'), { code: '08006' }) })],
  ])('reads %s as storage unavailable', (_what, error) => {
    expect(isStorageUnavailable(error)).toBe(true);
    const classified = classifyStorageError(error);
    expect(classified).toBeInstanceOf(StorageUnavailableException);
    expect((classified as StorageUnavailableException).code).toBe(ErrorCode.Unavailable);
    expect((classified as StorageUnavailableException).cause).toBe(error);
  });

  it('leaves every other error as it is', () => {
    const error = queryFailed('23505');
    expect(classifyStorageError(error)).toBe(error);
    const bug = new TypeError('undefined is not a function');
    expect(classifyStorageError(bug)).toBe(bug);
  });
});
