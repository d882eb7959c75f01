import { DataSource } from 'typeorm';
import { JobAttemptEntity } from './entities/job-attempt.entity.js';
import { JobDefinitionEntity } from './entities/job-definition.entity.js';
import { JobEventEntity } from './entities/job-event.entity.js';
import { JobLogEntity } from './entities/job-log.entity.js';
import { JobQueueEntity } from './entities/job-queue.entity.js';
import { JobEntity } from './entities/job.entity.js';
import { ScheduleEntity } from './entities/schedule.entity.js';
import { UsageEntity } from './entities/usage.entity.js';
import { WorkerEntity } from './entities/worker.entity.js';
import { PoolEntity } from './entities/pool.entity.js';
import { ProjectEntity } from './entities/project.entity.js';
import { InitialSchema1763769600000 } from './migrations/1763769600000-initial-schema.js';
import { GpuAwareScheduling1763773200000 } from './migrations/1763773200000-gpu-aware-scheduling.js';
import { Schedules1763780400000 } from './migrations/1763780400000-schedules.js';
import { TerminateRequests1763784000000 } from './migrations/1763784000000-terminate-requests.js';
import { JobLifecycle1763776800000 } from './migrations/1763776800000-job-lifecycle.js';
import { Billing1763787600000 } from './migrations/1763787600000-billing.js';
import { UsageRollup1763791200000 } from './migrations/1763791200000-usage-rollup.js';
import { OneWriter1763794800000 } from './migrations/1763794800000-one-writer.js';
import { Identity1763798400000 } from './migrations/1763798400000-identity.js';
import { WorkerIdentity1763805600000 } from './migrations/1763805600000-worker-identity.js';
import { SealedSigningKeys1764600500000 } from './migrations/1764600500000-sealed-signing-keys.js';
import { ContainerPolicy1763802000000 } from './migrations/1763802000000-container-policy.js';
import { Gangs1764600000000 } from './migrations/1764600000000-gangs.js';
import { Preemption1764600010000 } from './migrations/1764600010000-preemption.js';
import { GpuUtilization1764600100000 } from './migrations/1764600100000-gpu-utilization.js';
import { AwsBatchApi1764600200000 } from './migrations/1764600200000-aws-batch-api.js';
import { Volumes1764600210000 } from './migrations/1764600210000-volumes.js';
import { RegistryCredentials1764600220000 } from './migrations/1764600220000-registry-credentials.js';
import { MultiNodeDefinitions1764700000000 } from './migrations/1764700000000-multi-node-definitions.js';
import { UsageRollupPerStatement1764700200000 } from './migrations/1764700200000-usage-rollup-per-statement.js';
import { GpuHoldsPerStatement1764700300000 } from './migrations/1764700300000-gpu-holds-per-statement.js';

export const ENTITIES = [
  JobDefinitionEntity, JobQueueEntity, JobEntity, JobAttemptEntity, JobEventEntity, JobLogEntity, WorkerEntity, UsageEntity, ScheduleEntity,
  PoolEntity, ProjectEntity,
];
export const MIGRATIONS = [InitialSchema1763769600000, GpuAwareScheduling1763773200000, JobLifecycle1763776800000, Schedules1763780400000, TerminateRequests1763784000000,
  Billing1763787600000, UsageRollup1763791200000, OneWriter1763794800000, Identity1763798400000, ContainerPolicy1763802000000, WorkerIdentity1763805600000,
  Gangs1764600000000, Preemption1764600010000, GpuUtilization1764600100000, AwsBatchApi1764600200000, Volumes1764600210000,
  RegistryCredentials1764600220000, SealedSigningKeys1764600500000, MultiNodeDefinitions1764700000000, UsageRollupPerStatement1764700200000,
  GpuHoldsPerStatement1764700300000,
];

/** The one way to reach Postgres: migrations only, never `synchronize`. */
export function createDataSource(url: string, poolSize = 10): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    synchronize: false,
    migrationsRun: false,
    extra: { max: poolSize },
  });
}

// Any constant works; it only has to be the same in every gpubatch process.
const MIGRATION_LOCK_KEY = 7_347_001;

/** Applies pending migrations; an advisory lock lets the API and scheduler start together safely. */
export async function runMigrations(dataSource: DataSource): Promise<void> {
  const lock = dataSource.createQueryRunner();
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await dataSource.runMigrations({ transaction: 'all' });
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await lock.release();
  }
}
