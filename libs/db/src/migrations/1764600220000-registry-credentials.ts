import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Private registries: credentials of a project or a pool for one registry
 * host, the password sealed under GPUBATCH_SECRET_KEY (never returned).
 */
export class RegistryCredentials1764600220000 implements MigrationInterface {
  name = 'RegistryCredentials1764600220000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE registry_credentials (
        scope           varchar(8) NOT NULL CHECK (scope IN ('project', 'pool')),
        owner           varchar(128) NOT NULL,
        registry        varchar(255) NOT NULL,
        username        varchar(255) NOT NULL,
        sealed_password text NOT NULL,
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (scope, owner, registry)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE registry_credentials`);
  }
}
