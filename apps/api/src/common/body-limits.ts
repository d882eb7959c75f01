/** Most bytes of one request body. */
export const BODY_LIMIT_BYTES = 256 * 1024;

/** Most bytes of a batch submit's body: each of its entries is still held to BODY_LIMIT_BYTES. */
export const BATCH_BODY_LIMIT_BYTES = 16 * 2 ** 20;

/** Most submit bodies in one batch. */
export const MAX_BATCH_SUBMITS = 1000;
