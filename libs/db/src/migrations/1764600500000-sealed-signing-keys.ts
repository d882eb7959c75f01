import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Workers' report-signing keys are sealed under GPUBATCH_SECRET_KEY when one
 * is configured (docs/worker-security.md): a sealed value is longer than the
 * 64 hex digits of a key in clear.
 */
export class SealedSigningKeys1764600500000 implements MigrationInterface {
  name = 'SealedSigningKeys1764600500000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE worker_identities ALTER COLUMN signing_key TYPE text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE worker_identities ALTER COLUMN signing_key TYPE char(64)`);
  }
}
