import type { MigrationInterface, QueryRunner } from 'typeorm';

// The moves of the lifecycle table (libs/core lifecycle.ts statusMoves()) when this migration was written.
// A test compares them with the table: a change to the table needs a migration that changes these rows.
const JOB_MOVES = [
  'PENDING>FAILED', 'PENDING>RUNNABLE', 'PENDING>SUCCEEDED', 'RUNNABLE>FAILED', 'RUNNABLE>STARTING',
  'RUNNING>FAILED', 'RUNNING>RUNNABLE', 'RUNNING>SUCCEEDED', 'STARTING>FAILED', 'STARTING>RUNNABLE',
  'STARTING>RUNNING', 'STARTING>SUCCEEDED', 'SUBMITTED>FAILED',
];
const ATTEMPT_MOVES = ['RUNNING>FAILED', 'RUNNING>SUCCEEDED', 'STARTING>FAILED', 'STARTING>RUNNING', 'STARTING>SUCCEEDED'];

/**
 * One writer of job state, enforced by the database: a status changes only
 * inside the lifecycle writer's transaction (it sets `gpubatch.lifecycle`)
 * and only along the lifecycle table's moves. Also: the leadership epoch
 * that fences a deposed scheduler, and one row per GPU held, so that two
 * active attempts can never hold the same device of a worker.
 */
export class OneWriter1763794800000 implements MigrationInterface {
  name = 'OneWriter1763794800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE status_moves (
        entity      varchar(16) NOT NULL,
        from_status varchar(16) NOT NULL,
        to_status   varchar(16) NOT NULL,
        PRIMARY KEY (entity, from_status, to_status)
      )`);
    await q.query(
      `INSERT INTO status_moves (entity, from_status, to_status)
       SELECT m.entity, split_part(m.move, '>', 1), split_part(m.move, '>', 2)
       FROM unnest($1::text[], $2::text[]) AS m(entity, move)`,
      [[...JOB_MOVES.map(() => 'job'), ...ATTEMPT_MOVES.map(() => 'attempt')], [...JOB_MOVES, ...ATTEMPT_MOVES]],
    );
    await q.query(`
      CREATE FUNCTION guard_status_move() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.status IS DISTINCT FROM OLD.status THEN
          IF current_setting('gpubatch.lifecycle', true) IS DISTINCT FROM 'on' THEN
            RAISE EXCEPTION '% status % -> %: only the lifecycle writer changes a status', TG_ARGV[0], OLD.status, NEW.status
              USING ERRCODE = 'check_violation';
          END IF;
          IF NOT EXISTS (SELECT 1 FROM status_moves
                         WHERE entity = TG_ARGV[0] AND from_status = OLD.status AND to_status = NEW.status) THEN
            RAISE EXCEPTION '% status % -> % is not a move of the lifecycle', TG_ARGV[0], OLD.status, NEW.status
              USING ERRCODE = 'check_violation';
          END IF;
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER jobs_status_move BEFORE UPDATE OF status ON jobs FOR EACH ROW EXECUTE FUNCTION guard_status_move('job')`);
    await q.query(`CREATE TRIGGER job_attempts_status_move BEFORE UPDATE OF status ON job_attempts FOR EACH ROW EXECUTE FUNCTION guard_status_move('attempt')`);

    await q.query(`
      CREATE TABLE gpu_holds (
        worker_id varchar(128) NOT NULL,
        gpu_index integer NOT NULL,
        job_id    varchar(64) NOT NULL,
        attempt   integer NOT NULL,
        PRIMARY KEY (worker_id, gpu_index)
      )`);
    await q.query(`CREATE INDEX gpu_holds_attempt ON gpu_holds (job_id, attempt)`);
    await q.query(`
      CREATE FUNCTION hold_gpus() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.status IN ('STARTING', 'RUNNING') AND (TG_OP = 'INSERT' OR OLD.status NOT IN ('STARTING', 'RUNNING')) THEN
          -- The primary key refuses a device some other active attempt holds.
          INSERT INTO gpu_holds (worker_id, gpu_index, job_id, attempt)
          SELECT NEW.worker_id, d, NEW.job_id, NEW.attempt FROM unnest(NEW.gpu_devices) AS d;
        ELSIF TG_OP = 'UPDATE' AND NEW.status NOT IN ('STARTING', 'RUNNING') AND OLD.status IN ('STARTING', 'RUNNING') THEN
          DELETE FROM gpu_holds WHERE job_id = NEW.job_id AND attempt = NEW.attempt;
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER job_attempts_hold_gpus AFTER INSERT OR UPDATE OF status ON job_attempts FOR EACH ROW EXECUTE FUNCTION hold_gpus()`);
    await q.query(`
      INSERT INTO gpu_holds (worker_id, gpu_index, job_id, attempt)
      SELECT worker_id, d, job_id, attempt FROM job_attempts, unnest(gpu_devices) AS d WHERE status IN ('STARTING', 'RUNNING')`);

    await q.query(`
      CREATE TABLE scheduler_leadership (
        id          smallint PRIMARY KEY CHECK (id = 1),
        epoch       bigint NOT NULL,
        holder      text,
        acquired_at timestamptz
      )`);
    await q.query(`INSERT INTO scheduler_leadership (id, epoch) VALUES (1, 0)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE scheduler_leadership`);
    await q.query(`DROP TRIGGER job_attempts_hold_gpus ON job_attempts`);
    await q.query(`DROP FUNCTION hold_gpus`);
    await q.query(`DROP TABLE gpu_holds`);
    await q.query(`DROP TRIGGER job_attempts_status_move ON job_attempts`);
    await q.query(`DROP TRIGGER jobs_status_move ON jobs`);
    await q.query(`DROP FUNCTION guard_status_move`);
    await q.query(`DROP TABLE status_moves`);
  }
}
