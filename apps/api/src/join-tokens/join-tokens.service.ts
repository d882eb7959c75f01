import { createHash, randomBytes } from 'node:crypto';
import { DEFAULT_PAGE_SIZE, decodeKeyCursor, toPage, type PageQuery } from '../common/page.js';
import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Redis } from 'ioredis';
import type { ApiConfig } from '#libs/config';
import type { Logger } from '#libs/log';
import { disableWorkerAclUser, RedisKeys, setWorkerAclUser } from '#libs/queue';
import { ApiError } from '../common/api-error.js';
import { API_CONFIG, LOGGER, REDIS } from '../infra/tokens.js';
import type { JoinTokenSecretView, JoinTokenView, WorkerCredentialsView } from './join-token.dto.js';

interface TokenRow {
  id: string;
  pool: string;
  name: string;
  created_at: Date;
  rotated_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

const BOOTSTRAP_NAME = 'bootstrap';
const BOOTSTRAP_POOL = 'default';

export function hashJoinToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function newSecret(prefix: string): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

function view(row: TokenRow): JoinTokenView {
  return {
    id: row.id, pool: row.pool, name: row.name, createdAt: row.created_at.toISOString(),
    rotatedAt: row.rotated_at?.toISOString() ?? null, revokedAt: row.revoked_at?.toISOString() ?? null,
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
  };
}

const COLUMNS = 'id, pool, name, created_at, rotated_at, revoked_at, last_used_at';

/** TypeORM answers an UPDATE ... RETURNING with [rows, count], other statements with the rows. */
function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0] as T[];
  return result as T[];
}

/**
 * Pool join tokens and the identities workers receive with them
 * (docs/worker-security.md). Tokens are high-entropy random strings kept only
 * as SHA-256 hashes. A join creates or replaces the worker's Redis ACL user
 * and its report-signing key.
 */
@Injectable()
export class JoinTokensService implements OnApplicationBootstrap {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** GPUBATCH_BOOTSTRAP_JOIN_TOKEN: the pool `default` accepts this token (the row `bootstrap` follows the variable). */
  async onApplicationBootstrap(): Promise<void> {
    const token = this.config.bootstrapJoinToken;
    if (!token) return;
    const hash = hashJoinToken(token);
    // A changed value replaces the old one (and lifts a revocation of the old one); the same value keeps its state.
    await this.db.query(
      `INSERT INTO join_tokens (pool, name, token_hash) VALUES ($1, $2, $3)
       ON CONFLICT (pool, name) DO UPDATE SET token_hash = EXCLUDED.token_hash, rotated_at = now(), revoked_at = NULL
       WHERE join_tokens.token_hash <> EXCLUDED.token_hash`,
      [BOOTSTRAP_POOL, BOOTSTRAP_NAME, hash],
    );
    this.logger.info({ pool: BOOTSTRAP_POOL }, 'bootstrap join token accepted (GPUBATCH_BOOTSTRAP_JOIN_TOKEN)');
  }

  async create(pool: string, name: string | undefined): Promise<JoinTokenSecretView> {
    await this.assertPool(pool);
    const token = newSecret('gpbj_');
    const label = name ?? `token-${randomBytes(4).toString('hex')}`;
    const rows: TokenRow[] = await this.db.query(
      `INSERT INTO join_tokens (pool, name, token_hash) VALUES ($1, $2, $3) ON CONFLICT (pool, name) DO NOTHING RETURNING ${COLUMNS}`,
      [pool, label, hashJoinToken(token)],
    );
    if (rows.length === 0) throw new ApiError('JOIN_TOKEN_EXISTS', `pool ${pool} already has a join token named ${label}`);
    return { ...view(rows[0]), token };
  }

  /** One page of the pool's tokens, by name. */
  async page(pool: string, q: PageQuery): Promise<{ rows: JoinTokenView[]; nextCursor: string | null }> {
    await this.assertPool(pool);
    const limit = q.limit ?? DEFAULT_PAGE_SIZE;
    const after = decodeKeyCursor(q.cursor, ['string']);
    const rows: TokenRow[] = await this.db.query(
      `SELECT ${COLUMNS} FROM join_tokens WHERE pool = $1 AND ($2::text IS NULL OR name > $2) ORDER BY name LIMIT $3`,
      [pool, after?.[0] ?? null, limit + 1],
    );
    const page = toPage(rows, limit, (r) => [r.name]);
    return { rows: page.rows.map(view), nextCursor: page.nextCursor };
  }

  /** A new secret for the token: the old one stops working at once; workers already joined keep their identities. */
  async rotate(id: string): Promise<JoinTokenSecretView> {
    const token = newSecret('gpbj_');
    const rows = rowsOf<TokenRow>(await this.db.query(
      `UPDATE join_tokens SET token_hash = $2, rotated_at = now() WHERE id::text = $1 AND revoked_at IS NULL RETURNING ${COLUMNS}`,
      [id, hashJoinToken(token)],
    ));
    if (rows.length === 0) throw new ApiError('JOIN_TOKEN_NOT_FOUND', `no active join token ${id}`);
    return { ...view(rows[0]), token };
  }

  /** No worker can join with it any more; workers already joined keep their identities (revoke those one by one). */
  async revoke(id: string): Promise<JoinTokenView> {
    const rows = rowsOf<TokenRow>(await this.db.query(
      `UPDATE join_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id::text = $1 RETURNING ${COLUMNS}`, [id],
    ));
    if (rows.length === 0) throw new ApiError('JOIN_TOKEN_NOT_FOUND', `no join token ${id}`);
    return view(rows[0]);
  }

  /**
   * A worker joins: the token must be valid for the pool; the worker gets a
   * fresh Redis password (its previous connections are closed) and a fresh
   * signing key. An id revoked by an operator cannot join again, and an id
   * that belongs to another pool cannot be taken over with this pool's token.
   */
  async join(bearer: string | undefined, workerId: string, pool: string | undefined): Promise<WorkerCredentialsView> {
    if (!bearer) throw new ApiError('JOIN_TOKEN_INVALID', 'Authorization: Bearer <join token> is required');
    const [token] = rowsOf<TokenRow>(await this.db.query(
      `UPDATE join_tokens SET last_used_at = now() WHERE token_hash = $1 AND revoked_at IS NULL RETURNING ${COLUMNS}`, [hashJoinToken(bearer)],
    ));
    if (!token || (pool !== undefined && pool !== token.pool)) {
      this.logger.warn({ workerId, pool }, 'worker join refused: invalid, revoked or other-pool join token');
      throw new ApiError('JOIN_TOKEN_INVALID', 'the join token is unknown, revoked, or not for this pool');
    }
    const [existing]: { pool: string; revoked_at: Date | null }[] = await this.db.query(
      `SELECT pool, revoked_at FROM worker_identities WHERE worker_id = $1`, [workerId],
    );
    if (existing?.revoked_at) throw new ApiError('WORKER_REVOKED', `worker ${workerId} was revoked; join under another WORKER_ID`);
    if (existing && existing.pool !== token.pool) {
      throw new ApiError('WORKER_IN_OTHER_POOL', `worker ${workerId} belongs to pool ${existing.pool}, not ${token.pool}`);
    }
    const redisPassword = randomBytes(32).toString('hex');
    const signingKey = randomBytes(32).toString('hex');
    const redisUsername = await setWorkerAclUser(this.redis, workerId, redisPassword);
    await this.db.query(
      `INSERT INTO worker_identities (worker_id, pool, join_token_id, redis_username, signing_key) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (worker_id) DO UPDATE SET join_token_id = $3, redis_username = $4, signing_key = $5, joined_at = now()`,
      // Sealed when the deployment has a secrets key: a copy of Postgres then cannot forge reports.
      [workerId, token.pool, token.id, redisUsername, this.config.secrets?.sealSigningKey(workerId, signingKey) ?? signingKey],
    );
    await this.redis.hset(RedisKeys.workerPools, workerId, token.pool);
    this.logger.info({ workerId, pool: token.pool, tokenId: token.id }, 'worker joined with a join token');
    return { workerId, pool: token.pool, redisUsername, redisPassword, signingKey };
  }

  /** Takes a worker's identity away: its Redis user is turned off (connections closed) and its reports are refused. */
  async revokeWorker(workerId: string): Promise<{ workerId: string; revokedAt: string }> {
    const rows = rowsOf<{ revoked_at: Date }>(await this.db.query(
      `UPDATE worker_identities SET revoked_at = COALESCE(revoked_at, now()) WHERE worker_id = $1 RETURNING revoked_at`, [workerId],
    ));
    if (rows.length === 0) throw new ApiError('WORKER_NOT_FOUND', `no worker identity ${workerId}`);
    await disableWorkerAclUser(this.redis, workerId);
    await this.redis.hdel(RedisKeys.workerPools, workerId);
    this.logger.warn({ workerId }, 'worker identity revoked');
    return { workerId, revokedAt: rows[0].revoked_at.toISOString() };
  }

  private async assertPool(pool: string): Promise<void> {
    const rows = await this.db.query(`SELECT 1 FROM pools WHERE name = $1`, [pool]);
    if (rows.length === 0) throw new ApiError('POOL_NOT_FOUND', `no pool ${pool}`);
  }
}
