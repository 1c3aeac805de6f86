// Three projects:
// - unit: specs beside the code (and checks of the repository in test/*.spec.ts); no services.
// - integration: *.integration-spec.ts beside the code, against real SQLite, PostgreSQL and Redis.
// - e2e: suites in test/ that start the real gateway and call it over gRPC.
// Only the projects that need PostgreSQL and Redis start them (their global setup).
const { services, typescript } = require('./test/setup/jest-shared');

module.exports = {
  projects: [
    {
      ...typescript,
      displayName: 'unit',
      testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
    },
    {
      ...typescript,
      ...services,
      displayName: 'integration',
      testMatch: ['<rootDir>/{apps,libs}/**/*.integration-spec.ts'],
    },
    {
      ...typescript,
      ...services,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      slowTestThreshold: 30,
    },
  ],
  testTimeout: 60_000,
};
