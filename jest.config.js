// Three projects:
// - unit: specs beside the code (and checks of the repository in test/*.spec.ts); no services.
// - integration: *.integration-spec.ts beside the code, against real SQLite, PostgreSQL and Redis.
// - e2e: suites in test/ that start the real gateway and call it over gRPC.
const shared = {
  rootDir: __dirname,
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }] },
  moduleNameMapper: {
    '^@mailgateway/gateway$': '<rootDir>/apps/gateway/src',
    '^@mailgateway/([^/]+)$': '<rootDir>/libs/$1/src',
  },
};

// PostgreSQL (DATABASE_URL, or an embedded server) and Redis (REDIS_URL, or a redis-server),
// started only when a project that needs them runs.
const services = {
  globalSetup: '<rootDir>/test/setup/global-setup.mjs',
  globalTeardown: '<rootDir>/test/setup/global-teardown.mjs',
};

module.exports = {
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
    },
    {
      ...shared,
      ...services,
      displayName: 'integration',
      testMatch: ['<rootDir>/{apps,libs}/**/*.integration-spec.ts'],
    },
    {
      ...shared,
      ...services,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      slowTestThreshold: 30,
    },
  ],
  testTimeout: 60_000,
};
