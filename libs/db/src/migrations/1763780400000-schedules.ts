import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Cron schedules, and the index that finds the jobs each one submitted. */
export class Schedules1763780400000 implements MigrationInterface {
  name = 'Schedules1763780400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE schedules (
        name          varchar(128) PRIMARY KEY,
        cron          varchar(256) NOT NULL,
        timezone      varchar(64) NOT NULL DEFAULT 'UTC',
        -- The submit body each firing sends, as validated at creation.
        submit        jsonb NOT NULL,
        state         varchar(16) NOT NULL DEFAULT 'ACTIVE' CHECK (state IN ('ACTIVE', 'PAUSED')),
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now(),
        last_fired_at timestamptz,
        fire_count    integer NOT NULL DEFAULT 0
      );
      -- Partial: only scheduled jobs carry the tag; "tags->>'gpubatch:schedule' = $1" implies the predicate.
      CREATE INDEX jobs_schedule ON jobs ((tags->>'gpubatch:schedule')) WHERE tags->>'gpubatch:schedule' IS NOT NULL;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP INDEX jobs_schedule;
      DROP TABLE schedules;
    `);
  }
}
