import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Preemption: a queue may let its jobs preempt lower-priority ones; a job
 * (or its definition) says whether it may be preempted and how long it gets
 * to checkpoint. An attempt stopped that way ends PREEMPTED (INTERRUPTED when
 * its spot worker is reclaimed), a status of its own, and the job counts
 * these restarts (they use no retry).
 */
export class Preemption1764600010000 implements MigrationInterface {
  name = 'Preemption1764600010000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE job_queues ADD COLUMN preempt_lower_priority boolean NOT NULL DEFAULT false`);
    await q.query(`
      ALTER TABLE job_definitions
        ADD COLUMN preemptible boolean NOT NULL DEFAULT false,
        ADD COLUMN preemption_grace_seconds integer NOT NULL DEFAULT 30 CHECK (preemption_grace_seconds BETWEEN 0 AND 3600)`);
    await q.query(`
      ALTER TABLE jobs
        ADD COLUMN preemptible boolean NOT NULL DEFAULT false,
        ADD COLUMN preemption_grace_seconds integer NOT NULL DEFAULT 30 CHECK (preemption_grace_seconds BETWEEN 0 AND 3600),
        ADD COLUMN preemption_count integer NOT NULL DEFAULT 0`);
    // The attempt moves of the lifecycle table grow by the preempted end.
    await q.query(`INSERT INTO status_moves (entity, from_status, to_status) VALUES ('attempt', 'RUNNING', 'PREEMPTED'), ('attempt', 'STARTING', 'PREEMPTED'),
      ('attempt', 'RUNNING', 'INTERRUPTED'), ('attempt', 'STARTING', 'INTERRUPTED')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM status_moves WHERE entity = 'attempt' AND to_status IN ('PREEMPTED', 'INTERRUPTED')`);
    await q.query(`ALTER TABLE jobs DROP COLUMN preemptible, DROP COLUMN preemption_grace_seconds, DROP COLUMN preemption_count`);
    await q.query(`ALTER TABLE job_definitions DROP COLUMN preemptible, DROP COLUMN preemption_grace_seconds`);
    await q.query(`ALTER TABLE job_queues DROP COLUMN preempt_lower_priority`);
  }
}
