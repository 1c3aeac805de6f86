export * from './free-port';
export * from './gateway-process';
export * from './mail-fixtures';
export * from './test-database';
export * from './wait-for';
export * from './scripted-driver';
export * from './test-credentials';
export * from './redis-server';
