import type { DataSource } from 'typeorm';
import { registryCredentialName, signingKeyName, sigV4SecretName, type SecretBox } from '#libs/config';

const BATCH = 500;

/** Where sealed values live: maps of secret environment values, and single sealed columns. */
const SEALED_MAPS = [
  { table: 'job_definitions', counter: 'jobDefinitions' },
  { table: 'jobs', counter: 'jobs' },
] as const;

interface SealedColumn {
  table: string;
  counter: keyof ResealReport['resealed'];
  column: string;
  /** The row's key columns, and the name its value is sealed under (the associated data). */
  keys: string[];
  nameOf: (row: Record<string, string>) => string;
  /** Values stored in clear on purpose (a worker's signing key from before a secrets key was set). */
  inClear?: RegExp;
}

const SEALED_COLUMNS: SealedColumn[] = [
  { table: 'worker_identities', counter: 'workerSigningKeys', column: 'signing_key', keys: ['worker_id'], nameOf: (r) => signingKeyName(r.worker_id!), inClear: /^[0-9a-f]{64}$/ },
  { table: 'api_keys', counter: 'apiKeySigV4Secrets', column: 'sigv4_secret', keys: ['id'], nameOf: (r) => sigV4SecretName(r.id!) },
  {
    table: 'registry_credentials', counter: 'registryPasswords', column: 'sealed_password', keys: ['scope', 'owner', 'registry'],
    nameOf: (r) => registryCredentialName(r.scope as 'project' | 'pool', r.owner!, r.registry!),
  },
];

export interface ResealReport {
  /** Rows whose values were sealed again under the current key. */
  resealed: { jobDefinitions: number; jobs: number; workerSigningKeys: number; apiKeySigV4Secrets: number; registryPasswords: number };
  /** Values that open under no configured key: left as they are. */
  unreadable: { table: string; id: string; name: string }[];
}

/**
 * Seals every stored secret value again under the box's current key, so the
 * keys in GPUBATCH_SECRET_KEY_PREVIOUS can be retired: secret environment
 * values, workers' signing keys, API keys' SigV4 secrets and registry
 * passwords. Each row is updated only if it is still what was read (a
 * concurrent write is never overwritten). Safe to run again: values already
 * under the current key are skipped.
 */
export async function resealSecrets(db: DataSource, box: SecretBox): Promise<ResealReport> {
  const report: ResealReport = { resealed: { jobDefinitions: 0, jobs: 0, workerSigningKeys: 0, apiKeySigV4Secrets: 0, registryPasswords: 0 }, unreadable: [] };
  for (const { table, counter } of SEALED_MAPS) {
    let after: string | null = null;
    for (;;) {
      const rows: { id: string; secret_environment: Record<string, string> }[] = await db.query(
        `SELECT id::text AS id, secret_environment FROM ${table}
         WHERE secret_environment <> '{}' AND ($1::text IS NULL OR id::text > $1) ORDER BY id::text LIMIT ${BATCH}`,
        [after],
      );
      if (rows.length === 0) break;
      after = rows[rows.length - 1]!.id;
      for (const row of rows) {
        const sealed = row.secret_environment;
        if (Object.values(sealed).every((value) => box.isCurrent(value))) continue;
        const opened: Record<string, string> = {};
        for (const [name, value] of Object.entries(sealed)) {
          try {
            opened[name] = box.decrypt(name, value);
          } catch {
            report.unreadable.push({ table, id: row.id, name });
          }
        }
        if (Object.keys(opened).length < Object.keys(sealed).length) continue;
        if (await updated(db, `UPDATE ${table} SET secret_environment = $2 WHERE id::text = $1 AND secret_environment = $3::jsonb`,
          [row.id, JSON.stringify(box.encryptAll(opened)), JSON.stringify(sealed)])) report.resealed[counter]++;
      }
    }
  }
  for (const c of SEALED_COLUMNS) {
    // These tables are small (one row per worker, key or registry): read whole.
    const rows: Record<string, string>[] = await db.query(`SELECT ${c.keys.join(', ')}, ${c.column} AS sealed FROM ${c.table} WHERE ${c.column} IS NOT NULL`);
    for (const row of rows) {
      const sealed = row.sealed!;
      if (box.isCurrent(sealed) || c.inClear?.test(sealed)) continue;
      const name = c.nameOf(row);
      let value: string;
      try {
        value = box.decrypt(name, sealed);
      } catch {
        report.unreadable.push({ table: c.table, id: c.keys.map((k) => row[k]).join('/'), name: c.column });
        continue;
      }
      const where = c.keys.map((k, i) => `${k} = $${i + 3}`).join(' AND ');
      if (await updated(db, `UPDATE ${c.table} SET ${c.column} = $1 WHERE ${c.column} = $2 AND ${where}`,
        [box.encrypt(name, value), sealed, ...c.keys.map((k) => row[k])])) report.resealed[c.counter]++;
    }
  }
  return report;
}

/** TypeORM answers an UPDATE with [rows, count]. */
async function updated(db: DataSource, sql: string, params: unknown[]): Promise<boolean> {
  const [, count]: [unknown[], number] = await db.query(sql, params);
  return count === 1;
}
