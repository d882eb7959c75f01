import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ApiError } from '../common/api-error.js';
import { decodeCursor, encodeCursor } from '../common/cursor.js';
import { newApiKey } from './api-key.js';
import { AuthService } from './auth.service.js';
import type { Caller, Role } from './caller.js';
import type { ApiKeyListView, ApiKeyView, AuditLogView, CreateApiKeyDto, CreatedApiKeyView, GrantRoleDto, RoleBindingListView, RoleBindingView } from './dto/api-key.dto.js';

interface KeyRow {
  id: string; name: string; project: string | null; created_by: string | null; created_at: string;
  expires_at: Date | null; last_used_at: Date | null; revoked_at: Date | null; roles: { project: string; role: Role }[];
}

const KEY_COLUMNS = `k.id, k.name, k.project, k.created_by, k.created_at::text AS created_at, k.expires_at, k.last_used_at, k.revoked_at,
  COALESCE((SELECT json_agg(json_build_object('project', b.project, 'role', b.role) ORDER BY b.project) FROM role_bindings b WHERE b.subject = 'key:' || k.id), '[]') AS roles`;

/** API keys, role bindings and the audit log: what admins manage. */
@Injectable()
export class IdentityService {
  constructor(@Inject(DataSource) private readonly db: DataSource, @Inject(AuthService) private readonly auth: AuthService) {}

  async createKey(dto: CreateApiKeyDto, by: Caller): Promise<CreatedApiKeyView> {
    if (dto.expiresAt !== undefined && new Date(dto.expiresAt).getTime() <= Date.now()) {
      throw new ApiError('VALIDATION_FAILED', 'expiresAt must be in the future');
    }
    const key = newApiKey();
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO api_keys (id, name, secret_hash, sigv4_secret, project, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [key.id, dto.name, key.hash, this.auth.sealForSigV4(key.id, key.secret), dto.project ?? null, by.id, dto.expiresAt ?? null],
      );
      for (const grant of dto.roles) {
        await tx.query(
          `INSERT INTO role_bindings (subject, project, role) VALUES ($1, $2, $3) ON CONFLICT (subject, project) DO UPDATE SET role = EXCLUDED.role`,
          [`key:${key.id}`, grant.project, grant.role],
        );
      }
    });
    return { ...(await this.getKey(key.id)), key: key.token };
  }

  async listKeys(q: { limit?: number; cursor?: string }): Promise<ApiKeyListView> {
    const limit = q.limit ?? 100;
    const params: unknown[] = [limit + 1];
    let where = '';
    if (q.cursor) {
      const c = decodeCursor(q.cursor);
      where = `WHERE (k.created_at, k.id) < ($2::timestamptz, $3)`;
      params.push(c.createdAt, c.id);
    }
    const rows: KeyRow[] = await this.db.query(`SELECT ${KEY_COLUMNS} FROM api_keys k ${where} ORDER BY k.created_at DESC, k.id DESC LIMIT $1`, params);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { items: page.map(keyView), nextCursor: rows.length > limit && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null };
  }

  async getKey(id: string): Promise<ApiKeyView> {
    const [row]: KeyRow[] = await this.db.query(`SELECT ${KEY_COLUMNS} FROM api_keys k WHERE k.id = $1`, [id]);
    if (!row) throw new ApiError('API_KEY_NOT_FOUND', `API key ${id} does not exist`);
    return keyView(row);
  }

  /** Revoked at once in this process; other API processes stop accepting it within the auth cache's few seconds. */
  async revokeKey(id: string): Promise<ApiKeyView> {
    const rows: unknown[] = await this.db.query(`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING id`, [id]);
    if (rows.length === 0) throw new ApiError('API_KEY_NOT_FOUND', `API key ${id} does not exist`);
    this.auth.forget(id);
    return this.getKey(id);
  }

  async grant(dto: GrantRoleDto): Promise<RoleBindingView> {
    const [row] = await this.db.query(
      `INSERT INTO role_bindings (subject, project, role) VALUES ($1, $2, $3)
       ON CONFLICT (subject, project) DO UPDATE SET role = EXCLUDED.role RETURNING subject, project, role, created_at`,
      [dto.subject, dto.project, dto.role],
    );
    this.auth.forgetBindings();
    return bindingView(row);
  }

  async ungrant(subject: string, project: string): Promise<void> {
    const rows: unknown[] = await this.db.query(`DELETE FROM role_bindings WHERE subject = $1 AND project = $2 RETURNING subject`, [subject, project]);
    if (rows.length === 0) throw new ApiError('NOT_FOUND', `${subject} holds no role in ${project}`);
    this.auth.forgetBindings();
  }

  async listBindings(q: { limit?: number; cursor?: string }): Promise<RoleBindingListView> {
    const limit = q.limit ?? 100;
    const params: unknown[] = [limit + 1];
    let where = '';
    if (q.cursor) {
      const [subject, project] = decodePair(q.cursor);
      where = `WHERE (subject, project) > ($2, $3)`;
      params.push(subject, project);
    }
    const rows = await this.db.query(`SELECT subject, project, role, created_at FROM role_bindings ${where} ORDER BY subject, project LIMIT $1`, params);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { items: page.map(bindingView), nextCursor: rows.length > limit && last ? encodePair(last.subject, last.project) : null };
  }

  async auditLog(q: { limit?: number; cursor?: string }): Promise<AuditLogView> {
    const limit = q.limit ?? 100;
    const params: unknown[] = [limit + 1];
    let where = '';
    if (q.cursor) {
      if (!/^[1-9][0-9]{0,18}$/.test(q.cursor)) throw new ApiError('VALIDATION_FAILED', 'cursor must be a value returned as nextCursor by a previous page');
      where = 'WHERE id < $2';
      params.push(q.cursor);
    }
    const rows: { id: string; at: Date; actor: string | null; method: string; path: string; status: number; address: string | null }[] =
      await this.db.query(`SELECT id::text, at, actor, method, path, status, address FROM audit_log ${where} ORDER BY audit_log.id DESC LIMIT $1`, params);
    const page = rows.slice(0, limit);
    return {
      items: page.map((r) => ({ ...r, at: r.at.toISOString() })),
      nextCursor: rows.length > limit ? page[page.length - 1]!.id : null,
    };
  }
}

function keyView(r: KeyRow): ApiKeyView {
  return {
    id: r.id, name: r.name, project: r.project, roles: r.roles, createdBy: r.created_by,
    createdAt: new Date(r.created_at).toISOString(),
    expiresAt: r.expires_at?.toISOString() ?? null, lastUsedAt: r.last_used_at?.toISOString() ?? null, revokedAt: r.revoked_at?.toISOString() ?? null,
  };
}

function bindingView(r: { subject: string; project: string; role: Role; created_at: Date }): RoleBindingView {
  return { subject: r.subject, project: r.project, role: r.role, createdAt: r.created_at.toISOString() };
}

function encodePair(a: string, b: string): string {
  return Buffer.from(JSON.stringify([a, b])).toString('base64url');
}

function decodePair(raw: string): [string, string] {
  try {
    const v = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string') return [v[0], v[1]];
  } catch {
    // fall through
  }
  throw new ApiError('VALIDATION_FAILED', 'cursor must be a value returned as nextCursor by a previous page');
}
