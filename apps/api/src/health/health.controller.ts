import { Controller, Get, HttpCode, Inject, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import type { Redis } from 'ioredis';
import { REDIS } from '../infra/tokens.js';
import { RequireAccess } from '../auth/require-access.decorator.js';

const PROBE_TIMEOUT_MS = 2000;

@ApiTags('health')
@RequireAccess('public')
@Controller('health')
export class HealthController {
  constructor(@Inject(DataSource) private readonly db: DataSource, @Inject(REDIS) private readonly redis: Redis) {}

  @Get('live')
  @HttpCode(200)
  @ApiOkResponse({ description: 'The process runs' })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @ApiOkResponse({ description: 'Postgres and Redis both answer' })
  @ApiServiceUnavailableResponse({ description: 'One of them does not; the body says which' })
  async ready(): Promise<{ status: 'ok'; postgres: 'ok'; redis: 'ok' }> {
    const [postgres, redis] = await Promise.all([
      probe(() => this.db.query('SELECT 1')),
      probe(() => this.redis.ping()),
    ]);
    if (postgres !== 'ok' || redis !== 'ok') {
      throw new ServiceUnavailableException({ message: `postgres: ${postgres}; redis: ${redis}` });
    }
    return { status: 'ok', postgres, redis };
  }
}

async function probe(check: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => { timer = setTimeout(() => resolve('timeout'), PROBE_TIMEOUT_MS); });
  try {
    return await Promise.race([check().then(() => 'ok', (e: Error) => `down (${e.message})`), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
