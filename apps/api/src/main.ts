import { loadApiConfig } from '#libs/config';
import { createLogger } from '#libs/log';
import { runMain } from '#libs/process';
import { createApiApp } from './api-app.js';

await runMain('api', async () => {
  const config = loadApiConfig();
  const logger = createLogger('api', config.logLevel);
  const app = await createApiApp(config, logger);
  await app.listen(config.port, config.host);
  logger.info({ port: config.port }, 'api listening; Swagger UI at /docs');
  return () => app.close();
});
