import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { registryCredentialName, type ApiConfig } from '#libs/config';
import { ApiError } from '../common/api-error.js';
import { API_CONFIG } from '../infra/tokens.js';
import type { PutRegistryCredentialDto, RegistryCredentialView } from './registry-credential.dto.js';

export type CredentialScope = 'project' | 'pool';

/** A registry host as images name it: host, host:port, or localhost[:port]. */
const REGISTRY = /^([a-z0-9-]+(\.[a-z0-9-]+)*)(:[0-9]{1,5})?$/;

/**
 * Pull credentials of a project or a pool for one registry. The password is
 * sealed under GPUBATCH_SECRET_KEY at once and never returned; the scheduler
 * opens it for the dispatch of an attempt whose image comes from that
 * registry (the project's credentials first, then the pool's).
 */
@Injectable()
export class RegistryCredentialsService {
  constructor(@Inject(DataSource) private readonly db: DataSource, @Inject(API_CONFIG) private readonly config: ApiConfig) {}

  async put(scope: CredentialScope, owner: string, rawRegistry: string, dto: PutRegistryCredentialDto): Promise<RegistryCredentialView> {
    const registry = checkRegistry(rawRegistry);
    if (!this.config.secrets) {
      throw new ApiError('VALIDATION_FAILED', 'password needs GPUBATCH_SECRET_KEY to be set on the API (32 bytes, base64): registry credentials are stored sealed');
    }
    if (scope === 'pool') {
      const [pool] = await this.db.query(`SELECT 1 FROM pools WHERE name = $1`, [owner]);
      if (!pool) throw new ApiError('POOL_NOT_FOUND', `pool ${owner} does not exist`);
    }
    const sealed = this.config.secrets.encrypt(registryCredentialName(scope, owner, registry), dto.password);
    const [row] = await this.db.query(
      `INSERT INTO registry_credentials (scope, owner, registry, username, sealed_password) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (scope, owner, registry) DO UPDATE SET username = EXCLUDED.username, sealed_password = EXCLUDED.sealed_password, updated_at = now()
       RETURNING scope, owner, registry, username, updated_at`,
      [scope, owner, registry, dto.username, sealed],
    );
    return view(row);
  }

  async list(scope: CredentialScope, owner: string): Promise<RegistryCredentialView[]> {
    const rows = await this.db.query(
      `SELECT scope, owner, registry, username, updated_at FROM registry_credentials WHERE scope = $1 AND owner = $2 ORDER BY registry`, [scope, owner],
    );
    return rows.map(view);
  }

  async delete(scope: CredentialScope, owner: string, rawRegistry: string): Promise<void> {
    const registry = checkRegistry(rawRegistry);
    const rows: unknown[] = await this.db.query(
      `DELETE FROM registry_credentials WHERE scope = $1 AND owner = $2 AND registry = $3 RETURNING registry`, [scope, owner, registry],
    );
    if (rows.length === 0) throw new ApiError('NOT_FOUND', `${scope} ${owner} has no credentials for registry ${registry}`);
  }
}

function checkRegistry(raw: string): string {
  const registry = raw.toLowerCase();
  if (!REGISTRY.test(registry) || registry.length > 255) {
    throw new ApiError('VALIDATION_FAILED', 'registry must be a registry host as images name it: registry.example.com, host:5000 or localhost:5000 (docker.io for Docker Hub)');
  }
  return registry;
}

function view(r: { scope: string; owner: string; registry: string; username: string; updated_at: Date }): RegistryCredentialView {
  return { scope: r.scope, owner: r.owner, registry: r.registry, username: r.username, updatedAt: r.updated_at.toISOString() };
}
