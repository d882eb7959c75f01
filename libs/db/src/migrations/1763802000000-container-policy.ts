import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Hardened containers and secrets: each pool's container policy (safe
 * defaults, set by admins), what a definition asks of the container (shm,
 * user, read-only root, capabilities), and environment values kept
 * encrypted (AES-256-GCM) on definitions and jobs.
 */
export class ContainerPolicy1763802000000 implements MigrationInterface {
  name = 'ContainerPolicy1763802000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE pools
        ADD COLUMN pids_limit integer NOT NULL DEFAULT 4096 CHECK (pids_limit BETWEEN 16 AND 1048576),
        ADD COLUMN nofile_limit integer NOT NULL DEFAULT 16384 CHECK (nofile_limit BETWEEN 64 AND 1048576),
        ADD COLUMN log_max_bytes bigint NOT NULL DEFAULT 104857600 CHECK (log_max_bytes >= 1048576),
        ADD COLUMN allowed_capabilities jsonb NOT NULL DEFAULT '[]',
        ADD COLUMN max_shm_mib integer NOT NULL DEFAULT 8192 CHECK (max_shm_mib >= 1),
        ADD COLUMN allow_root_user boolean NOT NULL DEFAULT true,
        ADD COLUMN require_readonly_root_fs boolean NOT NULL DEFAULT false,
        ADD COLUMN allowed_registries jsonb`);
    await q.query(`
      ALTER TABLE job_definitions
        ADD COLUMN container jsonb NOT NULL DEFAULT '{}',
        ADD COLUMN secret_environment jsonb NOT NULL DEFAULT '{}'`);
    await q.query(`
      ALTER TABLE jobs
        ADD COLUMN container jsonb NOT NULL DEFAULT '{}',
        ADD COLUMN secret_environment jsonb NOT NULL DEFAULT '{}'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE jobs DROP COLUMN container, DROP COLUMN secret_environment`);
    await q.query(`ALTER TABLE job_definitions DROP COLUMN container, DROP COLUMN secret_environment`);
    await q.query(`
      ALTER TABLE pools DROP COLUMN pids_limit, DROP COLUMN nofile_limit, DROP COLUMN log_max_bytes, DROP COLUMN allowed_capabilities,
        DROP COLUMN max_shm_mib, DROP COLUMN allow_root_user, DROP COLUMN require_readonly_root_fs, DROP COLUMN allowed_registries`);
  }
}
