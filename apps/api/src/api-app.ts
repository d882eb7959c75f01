import { AuthService } from './auth/auth.service.js';
import { gateDocs } from './auth/docs-gate.js';
import 'reflect-metadata';
import { ValidationPipe, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { ApiConfig } from '#libs/config';
import { createDataSource, runMigrations } from '#libs/db';
import { createLogger, type Logger } from '#libs/log';
import { createRedis } from '#libs/queue';
import { AppModule } from './app.module.js';
import { ApiExceptionFilter } from './common/api-exception.filter.js';
import { VALIDATION_OPTIONS } from './common/validation.js';
import { BATCH_BODY_LIMIT_BYTES, BODY_LIMIT_BYTES } from './common/body-limits.js';
import { BATCH_SUBMIT_PATH } from './jobs/jobs-batch.controller.js';
import { recordWrites } from './auth/audit-hook.js';
import { documentSecurity } from './auth/swagger-security.js';
import { serveDashboard } from './dashboard/dashboard-static.js';

export { BODY_LIMIT_BYTES } from './common/body-limits.js';

/**
 * Builds the API (not yet listening): migrations applied, validation, errors,
 * the dashboard at /ui and Swagger at /docs wired. In-process tests pass `docs: false`: the
 * Swagger UI's static files need require(esm), which Jest's loader lacks.
 */
export async function createApiApp(
  config: ApiConfig,
  logger: Logger = createLogger('api', config.logLevel),
  options: { docs?: boolean } = {},
): Promise<NestFastifyApplication> {
  const dataSource = createDataSource(config.databaseUrl, 20);
  await dataSource.initialize();
  await runMigrations(dataSource);
  const redis = createRedis(config.redisUrl, 'api', 'request');

  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot({ config, dataSource, redis, logger }),
    new FastifyAdapter({ bodyLimit: BODY_LIMIT_BYTES }),
    // rawBody: AWS Signature V4 (the AWS Batch API) signs the body's exact bytes.
    { logger: nestLogger(logger), abortOnError: false, rawBody: true },
  );
  // Set before Nest registers its routes: only the batch submit may carry more than one submit body.
  app.getHttpAdapter().getInstance().addHook('onRoute', (route) => {
    if (route.url.replace(/::/g, ':') === BATCH_SUBMIT_PATH) route.bodyLimit = BATCH_BODY_LIMIT_BYTES;
  });
  app.useGlobalPipes(new ValidationPipe(VALIDATION_OPTIONS));
  app.useGlobalFilters(new ApiExceptionFilter(logger));
  recordWrites(app.getHttpAdapter().getInstance(), dataSource, logger);
  await serveDashboard(app, config, logger);

  if (options.docs !== false) {
    const document = SwaggerModule.createDocument(app, new DocumentBuilder()
      .setTitle('gpubatch')
      .setDescription('Batch jobs on GPU workers: job definitions, job queues, jobs, workers.')
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API key (gpb_<id>_<secret>) or, when configured, an OIDC access token' }, 'bearer')
      .build());
    documentSecurity(document);
    gateDocs(app.getHttpAdapter().getInstance(), app.get(AuthService));
    SwaggerModule.setup('docs', app, document, { swaggerOptions: { persistAuthorization: true } });
  }
  return app;
}

function nestLogger(logger: Logger): LoggerService {
  return {
    log: (message: unknown, context?: string) => logger.debug({ context }, String(message)),
    error: (message: unknown, trace?: string, context?: string) => logger.error({ context, trace }, String(message)),
    warn: (message: unknown, context?: string) => logger.warn({ context }, String(message)),
  };
}
