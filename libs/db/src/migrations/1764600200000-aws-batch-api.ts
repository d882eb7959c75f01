import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The AWS Batch API: a key's secret sealed under GPUBATCH_SECRET_KEY, so that
 * AWS Signature V4 (which needs the secret itself, not a hash) can be
 * verified; and tags on job queues and pools (AWS's compute environments),
 * which had none.
 */
export class AwsBatchApi1764600200000 implements MigrationInterface {
  name = 'AwsBatchApi1764600200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE api_keys ADD COLUMN sigv4_secret text`);
    await q.query(`ALTER TABLE job_queues ADD COLUMN tags jsonb NOT NULL DEFAULT '{}'`);
    await q.query(`ALTER TABLE pools ADD COLUMN tags jsonb NOT NULL DEFAULT '{}'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE pools DROP COLUMN tags`);
    await q.query(`ALTER TABLE job_queues DROP COLUMN tags`);
    await q.query(`ALTER TABLE api_keys DROP COLUMN sigv4_secret`);
  }
}
