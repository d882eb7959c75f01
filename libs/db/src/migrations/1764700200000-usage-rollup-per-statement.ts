import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The daily usage rollup, kept by one upsert per statement instead of two
 * per row: the recorder opens and settles the meters of a whole batch of
 * reports in one statement each, and the accrual updates every running row
 * in one. The statement's changed rows (transition tables) are summed per
 * rollup key, new rows counted in and old ones out, and the rollup rows are
 * written in key order, so two statements never take them in opposite
 * orders. The figures are the same sums as before, in the same transaction.
 */
export class UsageRollupPerStatement1764700200000 implements MigrationInterface {
  name = 'UsageRollupPerStatement1764700200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TRIGGER usage_daily_sync ON usage;

      -- Adds the figures of the rows in 'added' to their rollup rows and takes those of 'removed' away.
      CREATE FUNCTION usage_daily_add_rows(added usage[], removed usage[]) RETURNS void LANGUAGE sql AS $$
        INSERT INTO usage_daily AS d (day, currency, project, queue, definition, pool, gpu_model, tags_hash, tags,
                                      attempts, running, gpu_seconds, vcpu_seconds, memory_mib_seconds, cost, idle_gpu_seconds)
        SELECT (c.started_at AT TIME ZONE 'UTC')::date, c.currency, c.project, c.queue, c.definition, c.pool,
               COALESCE(c.gpu_model, ''), md5(c.tags::text), min(c.tags::text)::jsonb,
               sum(c.sign), sum(c.sign * c.running::int), sum(c.sign * c.gpus::bigint * c.billed_seconds), sum(c.sign * c.vcpus * c.billed_seconds),
               sum(c.sign * c.memory_mib::bigint * c.billed_seconds), sum(c.sign * c.cost), sum(c.sign * c.idle_gpu_seconds)
        FROM (SELECT a.*, 1 AS sign FROM unnest(added) a UNION ALL SELECT r.*, -1 AS sign FROM unnest(removed) r) c
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
        ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
        ON CONFLICT (day, currency, project, queue, definition, pool, gpu_model, tags_hash) DO UPDATE SET
          attempts = d.attempts + EXCLUDED.attempts, running = d.running + EXCLUDED.running,
          gpu_seconds = d.gpu_seconds + EXCLUDED.gpu_seconds, vcpu_seconds = d.vcpu_seconds + EXCLUDED.vcpu_seconds,
          memory_mib_seconds = d.memory_mib_seconds + EXCLUDED.memory_mib_seconds, cost = d.cost + EXCLUDED.cost,
          idle_gpu_seconds = d.idle_gpu_seconds + EXCLUDED.idle_gpu_seconds
      $$;

      CREATE FUNCTION usage_daily_sync_statement() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          PERFORM usage_daily_add_rows(ARRAY(SELECT n::usage FROM new_rows n), '{}'::usage[]);
        ELSIF TG_OP = 'UPDATE' THEN
          PERFORM usage_daily_add_rows(ARRAY(SELECT n::usage FROM new_rows n), ARRAY(SELECT o::usage FROM old_rows o));
        ELSE
          PERFORM usage_daily_add_rows('{}'::usage[], ARRAY(SELECT o::usage FROM old_rows o));
        END IF;
        RETURN NULL;
      END $$;

      CREATE TRIGGER usage_daily_sync_insert AFTER INSERT ON usage REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION usage_daily_sync_statement();
      CREATE TRIGGER usage_daily_sync_update AFTER UPDATE ON usage REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION usage_daily_sync_statement();
      CREATE TRIGGER usage_daily_sync_delete AFTER DELETE ON usage REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION usage_daily_sync_statement();
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TRIGGER usage_daily_sync_insert ON usage;
      DROP TRIGGER usage_daily_sync_update ON usage;
      DROP TRIGGER usage_daily_sync_delete ON usage;
      DROP FUNCTION usage_daily_sync_statement(), usage_daily_add_rows(usage[], usage[]);
      CREATE TRIGGER usage_daily_sync AFTER INSERT OR UPDATE OR DELETE ON usage
        FOR EACH ROW EXECUTE FUNCTION usage_daily_sync();
    `);
  }
}
