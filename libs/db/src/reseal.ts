import { loadSchedulerConfig } from '#libs/config';
import { createDataSource } from './data-source.js';
import { resealSecrets } from './secrets-reseal.js';

// `npm run secrets:reseal`: seals every stored secret value again under GPUBATCH_SECRET_KEY,
// opening them with it or with GPUBATCH_SECRET_KEY_PREVIOUS. Exits 1 if any value opens under none.
try {
  const config = loadSchedulerConfig();
  if (!config.secrets) throw new Error('GPUBATCH_SECRET_KEY is not set: it names the key to seal under');
  const dataSource = createDataSource(config.databaseUrl, 2);
  await dataSource.initialize();
  const report = await resealSecrets(dataSource, config.secrets);
  await dataSource.destroy();
  console.log(`re-sealed under key ${config.secrets.currentKeyId}: ${report.resealed.jobDefinitions} job definitions, ${report.resealed.jobs} jobs, ${report.resealed.workerSigningKeys} worker signing keys, `
    + `${report.resealed.apiKeySigV4Secrets} API key SigV4 secrets, ${report.resealed.registryPasswords} registry passwords`);
  for (const u of report.unreadable) console.error(`cannot open ${u.table} ${u.id} ${u.name} under any configured key; left as it is`);
  process.exit(report.unreadable.length ? 1 : 0);
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
