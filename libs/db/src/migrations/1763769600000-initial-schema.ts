import type { MigrationInterface, QueryRunner } from 'typeorm';

export class InitialSchema1763769600000 implements MigrationInterface {
  name = 'InitialSchema1763769600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE job_definitions (
        id              bigserial PRIMARY KEY,
        name            varchar(128) NOT NULL,
        revision        integer NOT NULL,
        status          varchar(16) NOT NULL DEFAULT 'ACTIVE',
        image           text NOT NULL,
        command         jsonb NOT NULL,
        environment     jsonb NOT NULL DEFAULT '{}',
        vcpus           numeric(10,3) NOT NULL,
        memory_mib      integer NOT NULL,
        gpus            integer NOT NULL DEFAULT 0,
        timeout_seconds integer,
        retry_attempts  integer NOT NULL DEFAULT 1,
        parameters      jsonb NOT NULL DEFAULT '{}',
        tags            jsonb NOT NULL DEFAULT '{}',
        created_at      timestamptz NOT NULL DEFAULT now(),
        UNIQUE (name, revision)
      );

      CREATE TABLE job_queues (
        name       varchar(128) PRIMARY KEY,
        priority   integer NOT NULL,
        state      varchar(16) NOT NULL,
        pools      text[] NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE jobs (
        id              varchar(64) PRIMARY KEY,
        name            varchar(128) NOT NULL,
        -- No foreign key: a deleted queue keeps its finished jobs' history.
        queue           varchar(128) NOT NULL,
        definition_id   bigint NOT NULL REFERENCES job_definitions(id),
        status          varchar(16) NOT NULL,
        status_reason   text,
        priority        integer NOT NULL DEFAULT 0,
        image           text NOT NULL,
        command         jsonb NOT NULL,
        environment     jsonb NOT NULL,
        vcpus           numeric(10,3) NOT NULL,
        memory_mib      integer NOT NULL,
        gpus            integer NOT NULL,
        timeout_seconds integer,
        max_attempts    integer NOT NULL,
        attempt_count   integer NOT NULL DEFAULT 0,
        project         varchar(128) NOT NULL DEFAULT 'default',
        tags            jsonb NOT NULL DEFAULT '{}',
        client_token    varchar(64) UNIQUE,
        created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
        updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
        started_at      timestamptz,
        stopped_at      timestamptz
      );
      CREATE INDEX jobs_newest ON jobs (created_at DESC, id DESC);
      CREATE INDEX jobs_queue_newest ON jobs (queue, created_at DESC, id DESC);
      CREATE INDEX jobs_status_newest ON jobs (status, created_at DESC, id DESC);

      CREATE TABLE job_attempts (
        job_id       varchar(64) NOT NULL REFERENCES jobs(id),
        attempt      integer NOT NULL,
        worker_id    varchar(128) NOT NULL,
        pool         varchar(128) NOT NULL,
        gpu_devices  integer[] NOT NULL DEFAULT '{}',
        vcpus        numeric(10,3) NOT NULL,
        memory_mib   integer NOT NULL,
        status       varchar(16) NOT NULL,
        container_id varchar(128),
        created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
        started_at   timestamptz,
        stopped_at   timestamptz,
        exit_code    integer,
        reason       text,
        PRIMARY KEY (job_id, attempt)
      );
      -- The scheduler rebuilds worker allocations from the attempts still holding resources.
      CREATE INDEX job_attempts_active ON job_attempts (worker_id) WHERE status IN ('STARTING', 'RUNNING');

      CREATE TABLE job_events (
        id          bigserial PRIMARY KEY,
        job_id      varchar(64) NOT NULL REFERENCES jobs(id),
        at          timestamptz NOT NULL DEFAULT clock_timestamp(),
        from_status varchar(16),
        to_status   varchar(16) NOT NULL,
        reason      text
      );
      CREATE INDEX job_events_job ON job_events (job_id, id);

      CREATE TABLE job_logs (
        id      bigserial PRIMARY KEY,
        job_id  varchar(64) NOT NULL REFERENCES jobs(id),
        attempt integer NOT NULL,
        stream  varchar(8) NOT NULL,
        at      timestamptz NOT NULL,
        text    text NOT NULL
      );
      CREATE INDEX job_logs_attempt ON job_logs (job_id, attempt, id);

      CREATE TABLE workers (
        id                varchar(128) PRIMARY KEY,
        pool              varchar(128) NOT NULL,
        hostname          text NOT NULL,
        vcpus             numeric(10,3) NOT NULL,
        memory_mib        integer NOT NULL,
        gpus              jsonb NOT NULL DEFAULT '[]',
        state             varchar(16) NOT NULL,
        registered_at     timestamptz NOT NULL DEFAULT now(),
        last_heartbeat_at timestamptz NOT NULL
      );

      CREATE TABLE usage (
        id             bigserial PRIMARY KEY,
        job_id         varchar(64) NOT NULL REFERENCES jobs(id),
        attempt        integer NOT NULL,
        worker_id      varchar(128) NOT NULL,
        pool           varchar(128) NOT NULL,
        vcpus          numeric(10,3) NOT NULL,
        memory_mib     integer NOT NULL,
        gpus           integer NOT NULL,
        started_at     timestamptz NOT NULL,
        stopped_at     timestamptz NOT NULL,
        billed_seconds integer NOT NULL,
        created_at     timestamptz NOT NULL DEFAULT now(),
        -- Each attempt is billed exactly once, however often its exit is reported.
        UNIQUE (job_id, attempt)
      );
      CREATE INDEX usage_stopped ON usage (stopped_at);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE usage, workers, job_logs, job_events, job_attempts, jobs, job_queues, job_definitions`);
  }
}
