import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The GPU holds, kept by one statement per write of attempts instead of a
 * plpgsql call and an insert per row: a placement pass opens all its
 * attempts in one insert, and the holds of all of them follow in one insert
 * from the statement's new rows (transition tables). The primary key of
 * gpu_holds still refuses a device some other active attempt holds, in the
 * same statement as before.
 */
export class GpuHoldsPerStatement1764700300000 implements MigrationInterface {
  name = 'GpuHoldsPerStatement1764700300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TRIGGER job_attempts_hold_gpus ON job_attempts;

      CREATE FUNCTION hold_gpus_of_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO gpu_holds (worker_id, gpu_index, job_id, attempt)
        SELECT n.worker_id, d, n.job_id, n.attempt FROM new_rows n, unnest(n.gpu_devices) AS d
        WHERE n.status IN ('STARTING', 'RUNNING');
        RETURN NULL;
      END $$;

      CREATE FUNCTION hold_gpus_of_updated() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        DELETE FROM gpu_holds h USING new_rows n JOIN old_rows o ON o.job_id = n.job_id AND o.attempt = n.attempt
        WHERE h.job_id = n.job_id AND h.attempt = n.attempt
          AND n.status NOT IN ('STARTING', 'RUNNING') AND o.status IN ('STARTING', 'RUNNING');
        INSERT INTO gpu_holds (worker_id, gpu_index, job_id, attempt)
        SELECT n.worker_id, d, n.job_id, n.attempt
        FROM new_rows n JOIN old_rows o ON o.job_id = n.job_id AND o.attempt = n.attempt, unnest(n.gpu_devices) AS d
        WHERE n.status IN ('STARTING', 'RUNNING') AND o.status NOT IN ('STARTING', 'RUNNING');
        RETURN NULL;
      END $$;

      CREATE TRIGGER job_attempts_hold_gpus_inserted AFTER INSERT ON job_attempts
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hold_gpus_of_inserted();
      -- No column list (transition tables allow none): an update that leaves the status as it was joins to nothing.
      CREATE TRIGGER job_attempts_hold_gpus_updated AFTER UPDATE ON job_attempts
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hold_gpus_of_updated();
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TRIGGER job_attempts_hold_gpus_updated ON job_attempts;
      DROP TRIGGER job_attempts_hold_gpus_inserted ON job_attempts;
      DROP FUNCTION hold_gpus_of_updated;
      DROP FUNCTION hold_gpus_of_inserted;
      CREATE TRIGGER job_attempts_hold_gpus AFTER INSERT OR UPDATE OF status ON job_attempts FOR EACH ROW EXECUTE FUNCTION hold_gpus();
    `);
  }
}
