import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Billing: pools with price cards, projects with budgets and GPU quotas, and
 * usage rows that carry everything a cost report groups by, the rates they
 * were billed at and their cost (numeric, never a float). Usage rows outlive
 * their jobs (retention removes jobs, never usage), so the foreign key goes.
 */
export class Billing1763787600000 implements MigrationInterface {
  name = 'Billing1763787600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE pools (
        name                   varchar(128) PRIMARY KEY,
        capacity_type          varchar(16) NOT NULL DEFAULT 'ON_DEMAND',
        currency               char(3) NOT NULL DEFAULT 'USD',
        vcpu_hour              numeric(18,6) NOT NULL DEFAULT 0,
        memory_gib_hour        numeric(18,6) NOT NULL DEFAULT 0,
        gpu_hour               numeric(18,6) NOT NULL DEFAULT 0,
        -- {"A100": "3.000000", ...}: per GPU-hour by model; gpu_hour for the rest.
        gpu_hour_by_model      jsonb NOT NULL DEFAULT '{}',
        minimum_billed_seconds integer NOT NULL DEFAULT 0,
        created_at             timestamptz NOT NULL DEFAULT now(),
        updated_at             timestamptz NOT NULL DEFAULT now()
      );
      -- Workers join the pool named 'default' unless told otherwise: it exists, priced at zero.
      INSERT INTO pools (name) VALUES ('default');

      CREATE TABLE projects (
        name                varchar(128) PRIMARY KEY,
        monthly_budget      numeric(18,6),
        currency            char(3) NOT NULL DEFAULT 'USD',
        gpu_quota           integer,
        created_at          timestamptz NOT NULL DEFAULT now(),
        updated_at          timestamptz NOT NULL DEFAULT now()
      );

      ALTER TABLE job_queues ADD COLUMN prefer_spot_for_interruptible boolean NOT NULL DEFAULT false;
      ALTER TABLE jobs ADD COLUMN interruptible boolean NOT NULL DEFAULT false;
      ALTER TABLE job_attempts ADD COLUMN gpu_model text;

      ALTER TABLE usage DROP CONSTRAINT usage_job_id_fkey;
      ALTER TABLE usage
        ADD COLUMN project                varchar(128) DEFAULT 'default',
        ADD COLUMN queue                  varchar(128) DEFAULT '',
        ADD COLUMN definition             varchar(128) DEFAULT '',
        ADD COLUMN array_job_id           varchar(64),
        ADD COLUMN tags                   jsonb NOT NULL DEFAULT '{}',
        ADD COLUMN capacity_type          varchar(16) NOT NULL DEFAULT 'ON_DEMAND',
        ADD COLUMN gpu_model              text,
        ADD COLUMN currency               char(3) NOT NULL DEFAULT 'USD',
        ADD COLUMN vcpu_hour              numeric(18,6) NOT NULL DEFAULT 0,
        ADD COLUMN memory_gib_hour        numeric(18,6) NOT NULL DEFAULT 0,
        ADD COLUMN gpu_hour               numeric(18,6) NOT NULL DEFAULT 0,
        ADD COLUMN minimum_billed_seconds integer NOT NULL DEFAULT 0,
        -- Unbounded: no price card can make a row's cost, or a sum of them, overflow.
        ADD COLUMN cost                   numeric NOT NULL DEFAULT 0,
        -- True while the attempt runs: stopped_at, billed_seconds and cost are accrued so far.
        ADD COLUMN running                boolean NOT NULL DEFAULT false;
      UPDATE usage u SET project = j.project, queue = j.queue, definition = d.name, tags = j.tags, array_job_id = j.parent_id
      FROM jobs j JOIN job_definitions d ON d.id = j.definition_id WHERE j.id = u.job_id;
      -- With defaults, a scheduler of the previous release still records exits while the new one rolls out.
      ALTER TABLE usage ALTER COLUMN project SET NOT NULL, ALTER COLUMN queue SET NOT NULL, ALTER COLUMN definition SET NOT NULL;

      -- Reports select a time range; budgets sum one project's month; accrual finds running rows.
      DROP INDEX usage_stopped;
      CREATE INDEX usage_started ON usage (started_at);
      CREATE INDEX usage_project_started ON usage (project, started_at);
      CREATE INDEX usage_running ON usage (job_id) WHERE running;
      -- An array job's cost is the sum of its children's.
      CREATE INDEX usage_array_job ON usage (array_job_id) WHERE array_job_id IS NOT NULL;
      -- The retention sweep finds old finished jobs.
      CREATE INDEX jobs_finished ON jobs (stopped_at) WHERE status IN ('SUCCEEDED', 'FAILED');
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP INDEX jobs_finished;
      DROP INDEX usage_array_job;
      DROP INDEX usage_running;
      DROP INDEX usage_project_started;
      DROP INDEX usage_started;
      CREATE INDEX usage_stopped ON usage (stopped_at);
      ALTER TABLE usage DROP COLUMN project, DROP COLUMN queue, DROP COLUMN definition, DROP COLUMN array_job_id, DROP COLUMN tags,
        DROP COLUMN capacity_type, DROP COLUMN gpu_model, DROP COLUMN currency, DROP COLUMN vcpu_hour,
        DROP COLUMN memory_gib_hour, DROP COLUMN gpu_hour, DROP COLUMN minimum_billed_seconds, DROP COLUMN cost,
        DROP COLUMN running;
      ALTER TABLE job_attempts DROP COLUMN gpu_model;
      ALTER TABLE jobs DROP COLUMN interruptible;
      ALTER TABLE job_queues DROP COLUMN prefer_spot_for_interruptible;
      DROP TABLE projects, pools;
    `);
  }
}
