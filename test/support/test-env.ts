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
