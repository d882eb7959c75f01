import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Multi-node (gang) jobs: the main node is the job itself (`node_index` 0),
 * its other nodes are child jobs (`parent_id`, `node_index` 1..); every node
 * carries the gang's `node_count`.
 * Each attempt keeps the node environment it was dispatched with (main
 * node address and port), so a re-dispatch sends the same. A pool runs
 * gangs only when its admins allow it: their containers use the host network.
 */
export class Gangs1764600000000 implements MigrationInterface {
  name = 'Gangs1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE jobs
        ADD COLUMN node_count integer CHECK (node_count BETWEEN 2 AND 64),
        ADD COLUMN node_index integer CHECK (node_index >= 0),
        ADD COLUMN topology_key varchar(63)`);
    await q.query(`ALTER TABLE job_attempts ADD COLUMN node_environment jsonb`);
    await q.query(`ALTER TABLE pools ADD COLUMN allow_multi_node boolean NOT NULL DEFAULT false`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE pools DROP COLUMN allow_multi_node`);
    await q.query(`ALTER TABLE job_attempts DROP COLUMN node_environment`);
    await q.query(`ALTER TABLE jobs DROP COLUMN node_count, DROP COLUMN node_index, DROP COLUMN topology_key`);
  }
}
