/** Where the tests find the real services; scripts/test.sh exports these. */
export function testEnv() {
  return {
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://gpubatch:gpubatch@127.0.0.1:5432/gpubatch_test',
    // Database 15 by default: the tests flush it, and must not touch anything else.
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/15',
    /** Local busybox image built by scripts/services.sh; no registry needed. */
    testImage: process.env.GPUBATCH_TEST_IMAGE ?? 'gpubatch-test:latest',
  };
}

/** The admin key every test API starts with (GPUBATCH_ADMIN_KEY); the request helpers send it. */
export const TEST_ADMIN_KEY = 'gpb_testadmin_' + 'T'.repeat(43);

/** The API's environment in tests: the admin key, and a rate limit no test reaches unless it means to. */
export const TEST_AUTH_ENV = { GPUBATCH_ADMIN_KEY: TEST_ADMIN_KEY, RATE_LIMIT_REQUESTS: '1000000' };
