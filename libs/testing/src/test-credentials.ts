import { generateApiKey } from '@mailgateway/auth';

/**
 * The admin key every test gateway registers at start (BOOTSTRAP_API_KEY), for source
 * TEST_SOURCE; new for each test process.
 */
export const TEST_API_KEY = generateApiKey().key;
export const TEST_SOURCE = 'dev';

/** The env that gives a gateway the test key. */
export const TEST_AUTH_ENV: Readonly<Record<string, string>> = { BOOTSTRAP_API_KEY: TEST_API_KEY };
