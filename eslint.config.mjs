// Lint for bugs, not taste: floating and misused promises, exhaustive switches, lib boundaries.
import tseslint from 'typescript-eslint';

/**
 * Which lib may import which, through its door (@mailgateway/<lib>). Imports point down this
 * list's layers: nothing imports the app, and no lib imports one that depends on it. Specs may
 * also import @mailgateway/testing.
 */
const MAY_IMPORT = {
  errors: [],
  contracts: [],
  config: ['errors'],
  observability: ['config', 'contracts', 'errors'],
  database: ['config', 'errors'],
  validation: ['config', 'contracts', 'errors'],
  auth: ['config', 'contracts', 'database', 'errors'],
  throttling: ['auth', 'config', 'errors', 'observability'],
  encryption: ['config', 'database', 'errors'],
  outbox: ['config', 'contracts', 'database', 'encryption', 'errors', 'observability'],
  suppression: ['config', 'contracts', 'database', 'errors'],
  delivery: ['auth', 'config', 'contracts', 'database', 'errors', 'observability', 'outbox', 'suppression'],
  feedback: [
    'config',
    'contracts',
    'database',
    'delivery',
    'errors',
    'observability',
    'outbox',
    'suppression',
  ],
  erasure: ['config', 'contracts', 'database', 'encryption', 'errors', 'feedback', 'outbox', 'suppression'],
  // The client is its own package (@mailgateway/client): it may import no other lib.
  client: [],
  testing: [
    'auth',
    'config',
    'contracts',
    'database',
    'delivery',
    'encryption',
    'erasure',
    'errors',
    'feedback',
    'outbox',
    'suppression',
  ],
};
const LIBS = Object.keys(MAY_IMPORT);
/** What each app may import; @mailgateway/gateway is the gateway app's own door for suites. */
const APPS = { gateway: LIBS.filter((lib) => lib !== 'testing'), cli: ['client'] };
const SPECS = ['**/*.spec.ts', '**/*.integration-spec.ts'];

const deepImport = {
  group: ['@mailgateway/*/*'],
  message: 'Import a lib through its index: @mailgateway/<lib>.',
};
// A relative path into another lib or an app skips its door (and the direction checks below).
const relativeIntoOthers = {
  regex: String.raw`^(\.\./)+((libs|apps)/|(${[...LIBS, ...Object.keys(APPS)].join('|')})/src(/|$))`,
  message: 'Import other libs and apps through their doors (@mailgateway/<name>), not by a relative path.',
};
const forbidden = (allowed, names, what) =>
  names
    .filter((name) => !allowed.includes(name))
    .map((name) => ({
      group: [`@mailgateway/${name}`],
      message: `${what} may import only ${allowed.map((lib) => `@mailgateway/${lib}`).join(', ') || 'no other lib'}.`,
    }));
const boundary = (files, allowed, what, ignores = []) => ({
  files,
  ignores,
  rules: {
    'no-restricted-imports': [
      'error',
      { patterns: [deepImport, relativeIntoOthers, ...forbidden(allowed, [...LIBS, 'gateway'], what)] },
    ],
  },
});

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'coverage/**',
      'libs/contracts/src/generated/**',
      'libs/client/src/generated/**',
      '**/*.mjs',
      '**/*.js',
    ],
  },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // test/ and bench/: every lib and the gateway, through their doors.
      'no-restricted-imports': ['error', { patterns: [deepImport, relativeIntoOthers] }],
    },
  },
  // Each lib's and app's code, then its specs (which may also use @mailgateway/testing).
  ...[
    ...Object.entries(MAY_IMPORT).map(([lib, allowed]) => [`libs/${lib}`, allowed]),
    ...Object.entries(APPS).map(([app, allowed]) => [`apps/${app}`, allowed]),
  ].flatMap(([folder, allowed]) => [
    boundary([`${folder}/src/**/*.ts`], allowed, folder, SPECS),
    boundary(
      SPECS.map((spec) => `${folder}/src/${spec}`),
      [...allowed, 'testing'],
      `Specs of ${folder}`,
    ),
  ]),
);
