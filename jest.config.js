// Unit specs sit beside the code; e2e suites in test/ start the real gateway and call it over gRPC.
const shared = {
  rootDir: __dirname,
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }] },
  moduleNameMapper: { '^@mailgateway/([^/]+)$': '<rootDir>/libs/$1/src' },
};

module.exports = {
  // Provides PostgreSQL to every suite: DATABASE_URL when set, otherwise an embedded server.
  globalSetup: '<rootDir>/test/setup/global-setup.mjs',
  globalTeardown: '<rootDir>/test/setup/global-teardown.mjs',
  projects: [
    {
      ...shared,
      displayName: 'unit',
      // test/*.spec.ts: checks of the repository itself (deploy/ manifests), no app started.
      testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
    },
    { ...shared, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'], slowTestThreshold: 30 },
  ],
  testTimeout: 60_000,
};
