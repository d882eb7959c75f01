import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Worker identity (docs/worker-security.md): pool join tokens, kept as
 * SHA-256 hashes, rotatable and revocable; and the identity each worker
 * received when it joined: its Redis ACL user and the key it signs its
 * attempt reports with (the scheduler checks them with it).
 */
export class WorkerIdentity1763805600000 implements MigrationInterface {
  name = 'WorkerIdentity1763805600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE join_tokens (
        id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        pool         varchar(128) NOT NULL,
        name         varchar(128) NOT NULL,
        token_hash   char(64) NOT NULL UNIQUE,
        created_at   timestamptz NOT NULL DEFAULT now(),
        rotated_at   timestamptz,
        revoked_at   timestamptz,
        last_used_at timestamptz,
        UNIQUE (pool, name)
      )`);
    await q.query(`
      CREATE TABLE worker_identities (
        worker_id      varchar(128) PRIMARY KEY,
        pool           varchar(128) NOT NULL,
        join_token_id  uuid REFERENCES join_tokens(id) ON DELETE SET NULL,
        redis_username varchar(160) NOT NULL,
        signing_key    char(64) NOT NULL,
        joined_at      timestamptz NOT NULL DEFAULT now(),
        revoked_at     timestamptz
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE worker_identities`);
    await q.query(`DROP TABLE join_tokens`);
  }
}
