import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Multi-node job definitions: a definition may carry its gang shape
 * (`{ count, topologyKey }`; every node runs the definition's container),
 * so a submit of it makes a gang as `nodes` on a submit does. Jobs keep the
 * parameters they were submitted with (the definition's defaults with the
 * submit's over them), which the AWS Batch API's DescribeJobs returns.
 */
export class MultiNodeDefinitions1764700000000 implements MigrationInterface {
  name = 'MultiNodeDefinitions1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE job_definitions ADD COLUMN nodes jsonb`);
    await q.query(`ALTER TABLE jobs ADD COLUMN parameters jsonb NOT NULL DEFAULT '{}'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE jobs DROP COLUMN parameters`);
    await q.query(`ALTER TABLE job_definitions DROP COLUMN nodes`);
  }
}
