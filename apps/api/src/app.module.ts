import { Module, type DynamicModule } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { Redis } from 'ioredis';
import type { ApiConfig } from '#libs/config';
import type { Logger } from '#libs/log';
import { AuthModule } from './auth/auth.module.js';
import { AwsBatchModule } from './aws-batch/aws-batch.module.js';
import { HealthModule } from './health/health.module.js';
import { InfraModule } from './infra/infra.module.js';
import { JobDefinitionsModule } from './job-definitions/job-definitions.module.js';
import { JobQueuesModule } from './job-queues/job-queues.module.js';
import { JobsModule } from './jobs/jobs.module.js';
import { JoinTokensModule } from './join-tokens/join-tokens.module.js';
import { OverviewModule } from './overview/overview.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { PoolsModule } from './pools/pools.module.js';
import { ProjectsModule } from './projects/projects.module.js';
import { RegistryCredentialsModule } from './registry-credentials/registry-credentials.module.js';
import { SchedulesModule } from './schedules/schedules.module.js';
import { UsageModule } from './usage/usage.module.js';
import { WorkersModule } from './workers/workers.module.js';

@Module({})
export class AppModule {
  static forRoot(deps: { config: ApiConfig; dataSource: DataSource; redis: Redis; logger: Logger }): DynamicModule {
    return {
      module: AppModule,
      imports: [InfraModule.forRoot(deps), AuthModule.forRoot(), HealthModule, JobDefinitionsModule, JobQueuesModule, JobsModule, SchedulesModule, WorkersModule,
        PoolsModule, ProjectsModule, UsageModule, JoinTokensModule, OverviewModule, MetricsModule, AwsBatchModule, RegistryCredentialsModule],
    };
  }
}
