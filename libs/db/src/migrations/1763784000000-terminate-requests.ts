import type { MigrationInterface, QueryRunner } from 'typeorm';

/** A terminate asked for while an attempt runs: whatever ends that attempt, the job is not retried. */
export class TerminateRequests1763784000000 implements MigrationInterface {
  name = 'TerminateRequests1763784000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE jobs ADD COLUMN terminate_reason text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE jobs DROP COLUMN terminate_reason`);
  }
}
