// What every jest configuration of the project shares: TypeScript, the @mailgateway/* doors, and
// the services (PostgreSQL from DATABASE_URL or an embedded server; Redis from REDIS_URL or a
// redis-server) that suites needing them start in their global setup.
const rootDir = require('node:path').join(__dirname, '../..');

const typescript = {
  rootDir,
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }] },
  moduleNameMapper: {
    '^@mailgateway/gateway$': '<rootDir>/apps/gateway/src',
    '^@mailgateway/([^/]+)$': '<rootDir>/libs/$1/src',
  },
  // Suites load the sources; the built copies (such as dist/packages/client, a second
  // @mailgateway/client package) run only as child processes.
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
};

const services = {
  globalSetup: '<rootDir>/test/setup/global-setup.mjs',
  globalTeardown: '<rootDir>/test/setup/global-teardown.mjs',
};

module.exports = { typescript, services };
