import { Global, Inject, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Redis } from 'ioredis';
import type { ApiConfig } from '#libs/config';
import type { Logger } from '#libs/log';
import { closeRedis, WorkerQueues } from '#libs/queue';
import { CatalogCache } from './catalog-cache.js';
import { IntakeQueues } from './intake-queues.js';
import { API_CONFIG, LOGGER, REDIS } from './tokens.js';

/** Postgres, Redis, intake queues and the logger, shared by every API module. */
@Global()
@Module({})
export class InfraModule implements OnApplicationShutdown {
  static forRoot(deps: { config: ApiConfig; dataSource: DataSource; redis: Redis; logger: Logger }): DynamicModule {
    return {
      module: InfraModule,
      providers: [
        { provide: API_CONFIG, useValue: deps.config },
        { provide: DataSource, useValue: deps.dataSource },
        { provide: REDIS, useValue: deps.redis },
        { provide: LOGGER, useValue: deps.logger },
        { provide: IntakeQueues, useFactory: () => new IntakeQueues(deps.redis) },
        { provide: WorkerQueues, useFactory: () => new WorkerQueues(deps.redis) },
        {
          provide: CatalogCache,
          useFactory: () => {
            const cache = new CatalogCache(deps.redis, deps.logger, deps.config.catalogCacheTtlMs);
            void cache.listen(); // not awaited: start-up must not wait for Redis; until then entries live their TTL
            return cache;
          },
        },
      ],
      exports: [API_CONFIG, DataSource, REDIS, LOGGER, IntakeQueues, WorkerQueues, CatalogCache],
    };
  }

  constructor(
    @Inject(IntakeQueues) private readonly intake: IntakeQueues,
    @Inject(WorkerQueues) private readonly channels: WorkerQueues,
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(CatalogCache) private readonly catalog: CatalogCache,
  ) {}

  /** Nest calls this after the HTTP server has stopped, so no request is cut off. */
  async onApplicationShutdown(): Promise<void> {
    await Promise.all([this.intake.close(), this.channels.close(), this.catalog.close()]);
    await Promise.allSettled([this.dataSource.destroy(), closeRedis(this.redis)]);
  }
}
