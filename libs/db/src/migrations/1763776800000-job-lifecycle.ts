import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Retry rules, dependencies and array jobs. */
export class JobLifecycle1763776800000 implements MigrationInterface {
  name = 'JobLifecycle1763776800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE job_definitions ADD COLUMN retry_rules jsonb NOT NULL DEFAULT '[]';
      ALTER TABLE jobs
        ADD COLUMN retry_rules jsonb NOT NULL DEFAULT '[]',
        ADD COLUMN parent_id varchar(64),
        ADD COLUMN array_index integer,
        ADD COLUMN array_size integer;
      CREATE INDEX jobs_children ON jobs (parent_id, array_index) WHERE parent_id IS NOT NULL;

      CREATE TABLE job_dependencies (
        job_id     varchar(64) NOT NULL REFERENCES jobs(id),
        depends_on varchar(64) NOT NULL REFERENCES jobs(id),
        PRIMARY KEY (job_id, depends_on)
      );
      -- A finished job finds the jobs waiting on it.
      CREATE INDEX job_dependencies_on ON job_dependencies (depends_on);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE job_dependencies;
      DROP INDEX jobs_children;
      ALTER TABLE jobs DROP COLUMN retry_rules, DROP COLUMN parent_id, DROP COLUMN array_index, DROP COLUMN array_size;
      ALTER TABLE job_definitions DROP COLUMN retry_rules;
    `);
  }
}
