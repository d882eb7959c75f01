import type { MigrationInterface, QueryRunner } from 'typeorm';

/** GPU model constraints, label selectors, worker labels and fair-share queues. */
export class GpuAwareScheduling1763773200000 implements MigrationInterface {
  name = 'GpuAwareScheduling1763773200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE job_definitions ADD COLUMN gpu_model text, ADD COLUMN label_selector text;
      ALTER TABLE jobs ADD COLUMN gpu_model text, ADD COLUMN label_selector text;
      ALTER TABLE job_queues ADD COLUMN scheduling_policy varchar(16) NOT NULL DEFAULT 'FIFO';
      ALTER TABLE workers ADD COLUMN labels jsonb NOT NULL DEFAULT '{}';
      -- Fair share reads recent usage per project.
      CREATE INDEX jobs_project ON jobs (project);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP INDEX jobs_project;
      ALTER TABLE workers DROP COLUMN labels;
      ALTER TABLE job_queues DROP COLUMN scheduling_policy;
      ALTER TABLE jobs DROP COLUMN gpu_model, DROP COLUMN label_selector;
      ALTER TABLE job_definitions DROP COLUMN gpu_model, DROP COLUMN label_selector;
    `);
  }
}
