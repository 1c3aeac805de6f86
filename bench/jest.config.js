// Benchmarks run through jest only for its TypeScript and path aliases; they assert nothing and
// are not part of `npm test`. Run with `npm run bench:auth`.
const base = require('../jest.config.js');

module.exports = {
  rootDir: '..',
  globalSetup: base.globalSetup,
  globalTeardown: base.globalTeardown,
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }] },
  moduleNameMapper: { '^@mailgateway/([^/]+)$': '<rootDir>/libs/$1/src' },
  testMatch: ['<rootDir>/bench/**/*.bench.ts'],
  testTimeout: 600_000,
};
