import type { DataSource } from 'typeorm';
import { DEFAULT_POOL_POLICY, effectivePolicy, imageRegistry, registryCredentialName, type ContainerRequest, type PoolContainerPolicy, type SecretBox } from '#libs/config';
import type { Logger } from '#libs/log';
import type { DispatchPayload } from '#libs/queue';

/** The job's columns a dispatch entry carries, read with its details. */
export interface DispatchJobColumns {
  id: string; name: string; queue: string; image: string; command: string[]; environment: Record<string, string>; vcpus: string;
  memory_mib: number; timeout_seconds: number | null; project: string; priority: number; preemptible: boolean; preemption_count: number;
  preemption_grace_seconds: number;
}

interface DetailRow extends DispatchJobColumns {
  id: string; memory_mib: number; container: ContainerRequest; secret_environment: Record<string, string>; pool: string | null; project: string; image: string;
  pids_limit: number | null; nofile_limit: number | null; log_max_bytes: string | null; allowed_capabilities: string[] | null;
  max_shm_mib: number | null; allow_root_user: boolean | null; require_readonly_root_fs: boolean | null; allowed_registries: string[] | null;
  allowed_host_paths: string[] | null;
  allow_multi_node: boolean | null;
}

function poolPolicy(r: DetailRow): PoolContainerPolicy {
  // A pool without a row (a worker joined a pool nobody created) gets the defaults.
  if (r.pids_limit === null) return DEFAULT_POOL_POLICY;
  return {
    pidsLimit: r.pids_limit, nofileLimit: r.nofile_limit!, logMaxBytes: Number(r.log_max_bytes), allowedCapabilities: r.allowed_capabilities ?? [],
    maxShmMiB: r.max_shm_mib!, allowRootUser: r.allow_root_user!, requireReadonlyRootFs: r.require_readonly_root_fs!, allowedRegistries: r.allowed_registries,
    allowedHostPaths: r.allowed_host_paths ?? [],
    allowMultiNode: r.allow_multi_node!,
  };
}

type Details = Pick<DispatchPayload, 'container' | 'secretEnvironment' | 'secretNames' | 'registryAuth'>;

/**
 * The container policy of each attempt (its pool's policy applied to the
 * job's requests) and its secret values, opened here and only here, for the
 * dispatch entry. `pool` is the pool of the worker the attempt goes to. A
 * secret that cannot be opened (no key, another key) is left out: the worker
 * then fails the attempt with a reason instead of running it without it.
 */
export async function dispatchDetails(
  db: DataSource, secrets: SecretBox | null | undefined, attempts: { jobId: string; pool: string }[], logger: Logger,
): Promise<Map<string, Details>> {
  return new Map([...(await placementDetails(db, secrets, attempts, logger))].map(([id, d]) => [id, d.details]));
}

/**
 * The dispatch details of attempts about to be placed, with their jobs'
 * columns: none of it changes when a job is placed, so it is read beside the
 * lifecycle writer's transaction instead of after it.
 */
export async function placementDetails(
  db: DataSource, secrets: SecretBox | null | undefined, attempts: { jobId: string; pool: string }[], logger: Logger,
): Promise<Map<string, { details: Details; job: DispatchJobColumns }>> {
  const out = new Map<string, { details: Details; job: DispatchJobColumns }>();
  if (attempts.length === 0) return out;
  const rows: DetailRow[] = await db.query(
    `SELECT j.id, j.memory_mib, j.container, j.secret_environment, j.project, j.image, t.pool,
            j.name, j.queue, j.command, j.environment, j.vcpus, j.timeout_seconds, j.priority, j.preemptible, j.preemption_count,
            j.preemption_grace_seconds,
            p.pids_limit, p.nofile_limit, p.log_max_bytes, p.allowed_capabilities, p.max_shm_mib, p.allow_root_user,
            p.require_readonly_root_fs, p.allowed_registries, p.allowed_host_paths, p.allow_multi_node
     FROM unnest($1::varchar[], $2::varchar[]) AS t(job_id, pool)
     JOIN jobs j ON j.id = t.job_id
     LEFT JOIN pools p ON p.name = t.pool`,
    [attempts.map((a) => a.jobId), attempts.map((a) => a.pool)],
  );
  const credentials = await registryCredentials(db, rows);
  for (const row of rows) {
    const details: Details = { container: effectivePolicy(poolPolicy(row), { memoryMiB: row.memory_mib, container: row.container ?? {}, project: row.project }) };
    out.set(row.id, { details, job: row });
    const registry = imageRegistry(row.image);
    const credential = credentials.find((c) => c.registry === registry && c.scope === 'project' && c.owner === row.project)
      ?? credentials.find((c) => c.registry === registry && c.scope === 'pool' && c.owner === row.pool);
    if (credential && secrets) {
      try {
        const password = secrets.decrypt(registryCredentialName(credential.scope, credential.owner, credential.registry), credential.sealed_password);
        details.registryAuth = { username: credential.username, password, serveraddress: registry };
      } catch {
        logger.error({ jobId: row.id, registry, scope: credential.scope, owner: credential.owner }, 'cannot open registry credentials with GPUBATCH_SECRET_KEY (another key?): pulling without them');
      }
    } else if (credential) {
      logger.error({ jobId: row.id, registry }, 'registry credentials exist but GPUBATCH_SECRET_KEY is not set on the scheduler: pulling without them');
    }
    const names = Object.keys(row.secret_environment ?? {});
    if (names.length === 0) continue;
    details.secretNames = names;
    if (!secrets) {
      logger.error({ jobId: row.id, secrets: names.length }, 'job has secret environment values but GPUBATCH_SECRET_KEY is not set: dispatched without them, the attempt will fail');
      continue;
    }
    try {
      details.secretEnvironment = secrets.decryptAll(row.secret_environment);
    } catch (error) {
      logger.error({ jobId: row.id, err: { message: (error as Error).message } }, 'cannot open the job\'s secret values with GPUBATCH_SECRET_KEY (another key?): dispatched without them, the attempt will fail');
    }
  }
  return out;
}

interface CredentialRow { scope: 'project' | 'pool'; owner: string; registry: string; username: string; sealed_password: string }

/** The pull credentials that may apply to these attempts: their projects' and their pools', for their images' registries. */
async function registryCredentials(db: DataSource, rows: DetailRow[]): Promise<CredentialRow[]> {
  const registries = [...new Set(rows.map((r) => imageRegistry(r.image)))];
  const owners = [...new Set(rows.flatMap((r) => [r.project, r.pool ?? '']))];
  return db.query(
    `SELECT scope, owner, registry, username, sealed_password FROM registry_credentials WHERE registry = ANY($1) AND owner = ANY($2)`,
    [registries, owners],
  );
}

/** Completes re-added dispatch payloads (rebuild, sweep) from their attempts' recorded pools. */
export async function completeDispatch(db: DataSource, secrets: SecretBox | null | undefined, payloads: DispatchPayload[], logger: Logger): Promise<void> {
  if (payloads.length === 0) return;
  const pools: { job_id: string; pool: string | null }[] = await db.query(
    `SELECT a.job_id, a.pool FROM jobs j JOIN job_attempts a ON a.job_id = j.id AND a.attempt = j.attempt_count WHERE j.id = ANY($1)`,
    [payloads.map((p) => p.jobId)],
  );
  const details = await dispatchDetails(db, secrets, pools.map((p) => ({ jobId: p.job_id, pool: p.pool ?? 'default' })), logger);
  for (const payload of payloads) Object.assign(payload, details.get(payload.jobId) ?? {});
}
