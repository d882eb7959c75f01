import type { DataSource } from 'typeorm';
import type { SecretBox } from '#libs/config';

const BATCH = 500;

export interface ResealReport {
  /** Rows whose values were sealed again under the current key. */
  resealed: { jobDefinitions: number; jobs: number; workerSigningKeys: number };
  /** Rows with a value that opens under no configured key: left as they are. */
  unreadable: { table: string; id: string; name: string }[];
}

/**
 * Seals every stored secret value again under the box's current key, so the
 * keys in GPUBATCH_SECRET_KEY_PREVIOUS can be retired. Rows are read in
 * batches by id and each is updated only if it is still what was read (a
 * concurrent register or submit is never overwritten). Safe to run again:
 * rows already under the current key are skipped.
 */
export async function resealSecrets(db: DataSource, box: SecretBox): Promise<ResealReport> {
  const report: ResealReport = { resealed: { jobDefinitions: 0, jobs: 0, workerSigningKeys: 0 }, unreadable: [] };
  for (const [table, counter] of [['job_definitions', 'jobDefinitions'], ['jobs', 'jobs']] as const) {
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
        let opened: Record<string, string>;
        try {
          opened = box.decryptAll(sealed);
        } catch {
          for (const [name, value] of Object.entries(sealed)) {
            try { box.decrypt(name, value); } catch { report.unreadable.push({ table, id: row.id, name }); }
          }
          continue;
        }
        // TypeORM answers an UPDATE with [rows, count].
        const [, updated]: [unknown[], number] = await db.query(
          `UPDATE ${table} SET secret_environment = $2 WHERE id::text = $1 AND secret_environment = $3::jsonb`,
          [row.id, JSON.stringify(box.encryptAll(opened)), JSON.stringify(sealed)],
        );
        if (updated === 1) report.resealed[counter]++;
      }
    }
  }
  // Workers' signing keys: sealed ones (keys in clear, from before a secrets key was set, stay as they are).
  const identities: { worker_id: string; signing_key: string }[] = await db.query(
    `SELECT worker_id, signing_key FROM worker_identities WHERE signing_key !~ '^[0-9a-f]{64}$'`,
  );
  for (const row of identities) {
    if (box.isCurrent(row.signing_key)) continue;
    let key: string;
    try {
      key = box.openSigningKey(row.worker_id, row.signing_key);
    } catch {
      report.unreadable.push({ table: 'worker_identities', id: row.worker_id, name: 'signing_key' });
      continue;
    }
    const [, updated]: [unknown[], number] = await db.query(
      `UPDATE worker_identities SET signing_key = $2 WHERE worker_id = $1 AND signing_key = $3`,
      [row.worker_id, box.sealSigningKey(row.worker_id, key), row.signing_key],
    );
    if (updated === 1) report.resealed.workerSigningKeys++;
  }
  return report;
}
