// Benchmarks run through jest only for its TypeScript and path aliases; they assert nothing and
// are not part of `npm test`. Run with `npm run bench:auth`.
const { services, typescript } = require('../test/setup/jest-shared');

module.exports = {
  ...typescript,
  ...services,
  testMatch: ['<rootDir>/bench/**/*.bench.ts'],
  testTimeout: 600_000,
};
