import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A daily rollup of the usage rows, kept exact by a trigger in the same
 * transaction as every usage write: reports and budgets read a few thousand
 * rollup rows instead of a month of attempts. A row counts on the UTC day its
 * attempt started; tags are part of the key (by their hash, so a large tag
 * set never outgrows an index entry), so `tag:<key>` groupings read it too.
 */
export class UsageRollup1763791200000 implements MigrationInterface {
  name = 'UsageRollup1763791200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE usage_daily (
        day                date NOT NULL,
        currency           char(3) NOT NULL,
        project            varchar(128) NOT NULL,
        queue              varchar(128) NOT NULL,
        definition         varchar(128) NOT NULL,
        pool               varchar(128) NOT NULL,
        -- '' for attempts without GPUs: a key column cannot be NULL.
        gpu_model          text NOT NULL,
        tags_hash          text NOT NULL,
        tags               jsonb NOT NULL,
        attempts           bigint NOT NULL,
        running            bigint NOT NULL,
        gpu_seconds        bigint NOT NULL,
        vcpu_seconds       numeric NOT NULL,
        memory_mib_seconds bigint NOT NULL,
        cost               numeric NOT NULL,
        PRIMARY KEY (day, currency, project, queue, definition, pool, gpu_model, tags_hash)
      );

      -- Adds one usage row's figures to its rollup row (sign -1 takes them away).
      CREATE FUNCTION usage_daily_add(u usage, sign integer) RETURNS void LANGUAGE sql AS $$
        INSERT INTO usage_daily AS d (day, currency, project, queue, definition, pool, gpu_model, tags_hash, tags,
                                      attempts, running, gpu_seconds, vcpu_seconds, memory_mib_seconds, cost)
        VALUES ((u.started_at AT TIME ZONE 'UTC')::date, u.currency, u.project, u.queue, u.definition, u.pool,
                COALESCE(u.gpu_model, ''), md5(u.tags::text), u.tags,
                sign, sign * u.running::int, sign * u.gpus::bigint * u.billed_seconds, sign * u.vcpus * u.billed_seconds,
                sign * u.memory_mib::bigint * u.billed_seconds, sign * u.cost)
        ON CONFLICT (day, currency, project, queue, definition, pool, gpu_model, tags_hash) DO UPDATE SET
          attempts = d.attempts + EXCLUDED.attempts, running = d.running + EXCLUDED.running,
          gpu_seconds = d.gpu_seconds + EXCLUDED.gpu_seconds, vcpu_seconds = d.vcpu_seconds + EXCLUDED.vcpu_seconds,
          memory_mib_seconds = d.memory_mib_seconds + EXCLUDED.memory_mib_seconds, cost = d.cost + EXCLUDED.cost
      $$;

      CREATE FUNCTION usage_daily_sync() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM usage_daily_add(OLD, -1); END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN PERFORM usage_daily_add(NEW, 1); END IF;
        RETURN NULL;
      END $$;

      CREATE TRIGGER usage_daily_sync AFTER INSERT OR UPDATE OR DELETE ON usage
        FOR EACH ROW EXECUTE FUNCTION usage_daily_sync();

      -- TRUNCATE fires no row triggers: empty the rollup with the rows.
      CREATE FUNCTION usage_daily_clear() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        TRUNCATE usage_daily;
        RETURN NULL;
      END $$;
      CREATE TRIGGER usage_daily_clear AFTER TRUNCATE ON usage FOR EACH STATEMENT EXECUTE FUNCTION usage_daily_clear();

      INSERT INTO usage_daily (day, currency, project, queue, definition, pool, gpu_model, tags_hash, tags,
                               attempts, running, gpu_seconds, vcpu_seconds, memory_mib_seconds, cost)
      SELECT (started_at AT TIME ZONE 'UTC')::date, currency, project, queue, definition, pool, COALESCE(gpu_model, ''),
             md5(tags::text), min(tags::text)::jsonb, count(*), count(*) FILTER (WHERE running), sum(gpus::bigint * billed_seconds),
             sum(vcpus * billed_seconds), sum(memory_mib::bigint * billed_seconds), sum(cost)
      FROM usage GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

      -- Budgets read the month by project.
      CREATE INDEX usage_daily_project ON usage_daily (project, day);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TRIGGER usage_daily_clear ON usage;
      DROP TRIGGER usage_daily_sync ON usage;
      DROP FUNCTION usage_daily_clear(), usage_daily_sync(), usage_daily_add(usage, integer);
      DROP TABLE usage_daily;
    `);
  }
}
