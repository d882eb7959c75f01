import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { ApiConfig } from '#libs/config';
import type { Logger } from '#libs/log';
import { API_CONFIG, LOGGER } from '../infra/tokens.js';
import { hashSecret, newApiKey, parseApiKey, secretMatches, sigV4SecretName } from './api-key.js';
import { ALL_PROJECTS, Caller, limitToProject, type Role } from './caller.js';
import { parseSigV4Authorization, SigV4Error, verifySigV4, type SignedRequest } from './sigv4.js';

/** How long a verified key (or a subject's bindings) is trusted without asking Postgres again. */
const CACHE_MS = 5_000;
const LAST_USED_EVERY_MS = 60_000;
const CACHE_MAX = 10_000;

interface KeyRecord {
  hash: Buffer;
  expiresAt: Date | null;
  revoked: boolean;
  roles: Map<string, Role>;
  /** The secret sealed under GPUBATCH_SECRET_KEY, for SigV4; null for keys made without one. */
  sigv4Secret: string | null;
}

/**
 * Who a bearer token is: an API key (`gpb_<id>_<secret>`) checked against
 * its stored hash, or, when OIDC is configured, a JWT verified against the
 * issuer's JWKS. Returns undefined for anything else: the guard answers 401.
 */
@Injectable()
export class AuthService implements OnModuleInit {
  private readonly keys = new Map<string, { at: number; record: KeyRecord | null }>();
  private readonly subjects = new Map<string, { at: number; roles: Map<string, Role> }>();
  private readonly lastUsedWritten = new Map<string, number>();
  private jwks?: Promise<JWTVerifyGetKey>;

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.bootstrapAdminKey();
    await this.installScrapeKey();
  }

  /**
   * GPUBATCH_SCRAPE_KEY, (re)installed on every start as a viewer of every
   * project: what /metrics needs, and nothing that writes.
   */
  private async installScrapeKey(): Promise<void> {
    const configured = this.config.auth.scrapeKey ? parseApiKey(this.config.auth.scrapeKey) : undefined;
    if (!configured) return;
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO api_keys (id, name, secret_hash, created_by) VALUES ($1, 'metrics scrape (GPUBATCH_SCRAPE_KEY)', $2, 'gpubatch')
         ON CONFLICT (id) DO UPDATE SET secret_hash = EXCLUDED.secret_hash, revoked_at = NULL, expires_at = NULL, project = NULL`,
        [configured.id, hashSecret(configured.secret)],
      );
      // Exactly viewer on '*': any other binding this id had is taken back.
      await tx.query(`DELETE FROM role_bindings WHERE subject = $1`, [`key:${configured.id}`]);
      await tx.query(`INSERT INTO role_bindings (subject, project, role) VALUES ($1, $2, 'viewer')`, [`key:${configured.id}`, ALL_PROJECTS]);
    });
  }

  async authenticate(authorization: string | undefined, now = Date.now()): Promise<Caller | undefined> {
    if (typeof authorization !== 'string') return undefined;
    const m = /^Bearer +(\S+) *$/i.exec(authorization);
    if (!m) return undefined;
    const token = m[1]!;
    const key = parseApiKey(token);
    if (key) return this.byKey(key.id, key.secret, now);
    if (this.config.auth.oidc && token.split('.').length === 3) return this.byOidc(token);
    return undefined;
  }

  /**
   * AWS Signature V4 (the AWS Batch API's clients): the access key id names
   * an API key, whose sealed secret is opened to recompute the signature.
   * Throws a SigV4Error naming what failed, with AWS's exception name.
   */
  async authenticateSigV4(req: SignedRequest & { headers: { authorization?: string | string[] } }, now = Date.now()): Promise<Caller> {
    const credential = parseSigV4Authorization(String(req.headers.authorization));
    const id = credential.accessKeyId;
    const record = /^[A-Za-z0-9]{1,32}$/.test(id) ? await this.record(id, now) : null;
    if (!record || record.revoked || (record.expiresAt && record.expiresAt.getTime() <= now)) {
      throw new SigV4Error('UnrecognizedClientException', `The security token included in the request is invalid: access key id ${id.slice(0, 64)} is not a live gpubatch API key (unknown, revoked or expired)`);
    }
    if (!record.sigv4Secret || !this.config.secrets) {
      throw new SigV4Error('UnrecognizedClientException',
        `API key ${id} cannot sign AWS requests: it was made while GPUBATCH_SECRET_KEY was not set (or the API now runs without it); make a new key with it set`);
    }
    let secret: string;
    try {
      secret = this.config.secrets.decrypt(sigV4SecretName(id), record.sigv4Secret);
    } catch {
      throw new SigV4Error('UnrecognizedClientException', `API key ${id} cannot sign AWS requests: its secret was sealed under another GPUBATCH_SECRET_KEY`);
    }
    // The sealed copy must still be the key's secret (a row edited by hand, a key reinstalled with another secret).
    if (!secretMatches(secret, record.hash)) throw new SigV4Error('UnrecognizedClientException', `API key ${id} cannot sign AWS requests: its sealed secret is stale`);
    verifySigV4(req, credential, secret, now);
    this.touch(id, now);
    return new Caller(`key:${id}`, record.roles);
  }

  /** Forgets a key at once in this process (other API processes within CACHE_MS). */
  forget(keyId: string): void {
    this.keys.delete(keyId);
  }

  /** Forgets cached bindings (after a grant or a revoke of a role). */
  forgetBindings(): void {
    this.keys.clear();
    this.subjects.clear();
  }

  private async record(id: string, now: number): Promise<KeyRecord | null> {
    let cached = this.keys.get(id);
    if (!cached || now - cached.at > CACHE_MS) {
      cached = { at: now, record: await this.loadKey(id) };
      if (this.keys.size >= CACHE_MAX) this.keys.clear();
      this.keys.set(id, cached);
    }
    return cached.record;
  }

  private async byKey(id: string, secret: string, now: number): Promise<Caller | undefined> {
    const record = await this.record(id, now);
    if (!record || record.revoked || (record.expiresAt && record.expiresAt.getTime() <= now)) return undefined;
    if (!secretMatches(secret, record.hash)) return undefined;
    this.touch(id, now);
    return new Caller(`key:${id}`, record.roles);
  }

  private async loadKey(id: string): Promise<KeyRecord | null> {
    const [row]: { secret_hash: Buffer; sigv4_secret: string | null; expires_at: Date | null; revoked: boolean; project: string | null; bindings: { project: string; role: Role }[] }[] =
      await this.db.query(
        `SELECT k.secret_hash, k.sigv4_secret, k.expires_at, k.revoked_at IS NOT NULL AS revoked, k.project,
                COALESCE((SELECT json_agg(json_build_object('project', b.project, 'role', b.role)) FROM role_bindings b WHERE b.subject = 'key:' || k.id), '[]') AS bindings
         FROM api_keys k WHERE k.id = $1`,
        [id],
      );
    if (!row) return null;
    return { hash: row.secret_hash, sigv4Secret: row.sigv4_secret, expiresAt: row.expires_at, revoked: row.revoked, roles: limitToProject(row.bindings, row.project) };
  }

  private touch(id: string, now: number): void {
    const last = this.lastUsedWritten.get(id);
    if (last !== undefined && now - last < LAST_USED_EVERY_MS) return;
    if (this.lastUsedWritten.size >= CACHE_MAX) this.lastUsedWritten.clear();
    this.lastUsedWritten.set(id, now);
    this.db.query(`UPDATE api_keys SET last_used_at = now() WHERE id = $1`, [id])
      .catch((err: unknown) => this.logger.warn({ err, keyId: id }, 'could not record a key\'s last use'));
  }

  private async byOidc(token: string): Promise<Caller | undefined> {
    const oidc = this.config.auth.oidc!;
    let payload: Record<string, unknown>;
    try {
      const jwks = await this.keySet();
      ({ payload } = await jwtVerify(token, jwks, {
        issuer: oidc.issuer, audience: oidc.audience,
        algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'],
      }));
    } catch (err) {
      this.logger.debug({ reason: (err as Error)?.message }, 'bearer token refused');
      return undefined;
    }
    const user = payload[oidc.userClaim];
    if (typeof user !== 'string' || user === '') return undefined;
    const rawGroups = payload[oidc.groupsClaim];
    const groups = (Array.isArray(rawGroups) ? rawGroups : typeof rawGroups === 'string' ? [rawGroups] : []).filter((g): g is string => typeof g === 'string');
    const roles = await this.rolesOf([`user:${user}`, ...groups.map((g) => `group:${g}`)]);
    return new Caller(`user:${user}`, roles);
  }

  /** The key's secret sealed for SigV4 verification, or null when the API has no GPUBATCH_SECRET_KEY (docs/security.md). */
  sealForSigV4(keyId: string, secret: string): string | null {
    return this.config.secrets ? this.config.secrets.encrypt(sigV4SecretName(keyId), secret) : null;
  }

  private async rolesOf(subjects: string[]): Promise<Map<string, Role>> {
    const cacheKey = subjects.join('\n');
    const now = Date.now();
    const cached = this.subjects.get(cacheKey);
    if (cached && now - cached.at <= CACHE_MS) return cached.roles;
    const rows: { project: string; role: Role }[] = await this.db.query(`SELECT project, role FROM role_bindings WHERE subject = ANY($1)`, [subjects]);
    const roles = limitToProject(rows, null);
    if (this.subjects.size >= CACHE_MAX) this.subjects.clear();
    this.subjects.set(cacheKey, { at: now, roles });
    return roles;
  }

  /** The issuer's key set, found through its discovery document unless OIDC_JWKS_URL names it; jose caches and refreshes the keys. */
  private keySet(): Promise<JWTVerifyGetKey> {
    if (!this.jwks) {
      const oidc = this.config.auth.oidc!;
      this.jwks = (async () => {
        let url = oidc.jwksUrl;
        if (!url) {
          const res = await fetch(`${oidc.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(5000) });
          if (!res.ok) throw new Error(`OIDC discovery answered ${res.status}`);
          url = ((await res.json()) as { jwks_uri?: string }).jwks_uri;
          if (!url) throw new Error('OIDC discovery names no jwks_uri');
        }
        return createRemoteJWKSet(new URL(url));
      })();
      // A failed discovery is retried by the next token, not cached.
      this.jwks.catch(() => { this.jwks = undefined; });
    }
    return this.jwks;
  }

  /**
   * The first admin key. GPUBATCH_ADMIN_KEY is (re)installed on every start;
   * without it, one is generated and printed once: the marker row keeps any
   * later start (or a second API process) from making another.
   */
  private async bootstrapAdminKey(): Promise<void> {
    const configured = this.config.auth.adminKey ? parseApiKey(this.config.auth.adminKey) : undefined;
    const printed = await this.db.transaction(async (tx) => {
      const fresh: unknown[] = await tx.query(`INSERT INTO auth_markers (name) VALUES ('admin-key') ON CONFLICT DO NOTHING RETURNING name`);
      if (!configured && fresh.length === 0) return undefined;
      const key = configured ? { id: configured.id, secret: configured.secret, hash: hashSecret(configured.secret), token: undefined } : newApiKey();
      await tx.query(
        `INSERT INTO api_keys (id, name, secret_hash, sigv4_secret, created_by) VALUES ($1, $2, $3, $4, 'gpubatch')
         ON CONFLICT (id) DO UPDATE SET secret_hash = EXCLUDED.secret_hash, sigv4_secret = EXCLUDED.sigv4_secret, revoked_at = NULL, expires_at = NULL, project = NULL`,
        [key.id, configured ? 'admin (GPUBATCH_ADMIN_KEY)' : 'admin (generated at first start)', key.hash, this.sealForSigV4(key.id, key.secret)],
      );
      await tx.query(
        `INSERT INTO role_bindings (subject, project, role) VALUES ($1, $2, 'admin') ON CONFLICT (subject, project) DO UPDATE SET role = 'admin'`,
        [`key:${key.id}`, ALL_PROJECTS],
      );
      return key.token;
    });
    if (printed) {
      // Straight to stdout, once, never through the logger: it is the only copy.
      process.stdout.write(`gpubatch: admin key (shown once, keep it; it is not stored): ${printed}\n`);
    }
  }
}
