import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Volumes: the host directories each pool lets jobs mount (none by default); what a definition mounts lives in its container request. */
export class Volumes1764600210000 implements MigrationInterface {
  name = 'Volumes1764600210000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE pools ADD COLUMN allowed_host_paths jsonb NOT NULL DEFAULT '[]'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE pools DROP COLUMN allowed_host_paths`);
  }
}
