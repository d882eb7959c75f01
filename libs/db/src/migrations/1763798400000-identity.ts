import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Identity: API keys (only a hash of the secret is kept), role bindings of
 * keys, OIDC users and groups to a project (or '*': every project), the audit
 * log of every write, and one-time markers (the generated admin key is
 * printed once).
 */
export class Identity1763798400000 implements MigrationInterface {
  name = 'Identity1763798400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE api_keys (
        id           varchar(32) PRIMARY KEY,
        name         varchar(128) NOT NULL,
        secret_hash  bytea NOT NULL,
        -- A key limited to one project acts only there, whatever its bindings say.
        project      varchar(128),
        created_by   text,
        created_at   timestamptz NOT NULL DEFAULT now(),
        expires_at   timestamptz,
        last_used_at timestamptz,
        revoked_at   timestamptz
      )`);
    await q.query(`
      CREATE TABLE role_bindings (
        -- key:<id>, user:<subject> or group:<name>
        subject    text NOT NULL,
        -- a project name, or '*' for every project
        project    varchar(128) NOT NULL,
        role       varchar(16) NOT NULL CHECK (role IN ('admin', 'operator', 'member', 'viewer')),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (subject, project)
      )`);
    await q.query(`
      CREATE TABLE audit_log (
        id      bigserial PRIMARY KEY,
        at      timestamptz NOT NULL DEFAULT now(),
        actor   text,
        method  varchar(16) NOT NULL,
        path    text NOT NULL,
        status  int NOT NULL,
        address text
      )`);
    await q.query(`CREATE TABLE auth_markers (name text PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE auth_markers, audit_log, role_bindings, api_keys`);
  }
}
