import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import fastifyStatic from '@fastify/static';
import type { ApiConfig } from '#libs/config';
import type { Logger } from '#libs/log';

export const DASHBOARD_PREFIX = '/ui';

/**
 * Where `npm run build` puts the dashboard (vite's outDir): dist/ui beside the
 * compiled API (dist/apps/api/src/dashboard -> dist/ui), or, when the API runs
 * from source (the in-process tests), <repo>/dist/ui.
 */
export function dashboardDir(): string | null {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const up = path.resolve(here, '../../../..');
  for (const dir of [path.join(up, 'ui'), path.join(up, 'dist', 'ui')]) {
    if (existsSync(path.join(dir, 'index.html'))) return dir;
  }
  return null;
}

/**
 * What the browser needs before anyone signs in: whether OIDC is on, and with
 * which issuer and client. None of it is secret (the issuer's discovery
 * document says as much), and it names no project, job or key.
 */
export function dashboardConfig(config: ApiConfig): { oidc: { issuer: string; audience: string; clientId: string | null } | null } {
  const oidc = config.auth.oidc;
  return { oidc: oidc ? { issuer: oidc.issuer, audience: oidc.audience, clientId: config.dashboard.oidcClientId } : null };
}

/** The page's policy: its own scripts only, data only from this API (and the OIDC issuer, for sign-in), never framed. */
export function dashboardCsp(config: ApiConfig): string {
  const issuer = config.auth.oidc ? new URL(config.auth.oidc.issuer).origin : '';
  return [
    "default-src 'self'",
    "script-src 'self'",
    // Chart.js and React set element styles; nothing loads styles from elsewhere.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    `connect-src 'self'${issuer ? ` ${issuer}` : ''}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
  ].join('; ');
}

/**
 * Serves the built dashboard at /ui/ as public static files: they hold code,
 * never data. Every figure the pages show comes from the authenticated REST
 * API with the signed-in user's key (docs/security.md). These are plain
 * Fastify routes, outside Nest's controllers and their guard, like Swagger's /docs.
 */
export async function serveDashboard(app: NestFastifyApplication, config: ApiConfig, logger: Logger): Promise<void> {
  const fastify = app.getHttpAdapter().getInstance();
  const root = dashboardDir();
  const csp = dashboardCsp(config);
  const publicConfig = JSON.stringify(dashboardConfig(config));
  fastify.get(DASHBOARD_PREFIX, (_req, reply) => reply.redirect(`${DASHBOARD_PREFIX}/`, 302));
  fastify.get(`${DASHBOARD_PREFIX}/config.json`, (_req, reply) => {
    void reply.header('cache-control', 'no-store').header('content-type', 'application/json; charset=utf-8').send(publicConfig);
  });
  if (!root) {
    logger.warn('dashboard not built (npm run build makes dist/ui): /ui/ answers 404');
    fastify.get(`${DASHBOARD_PREFIX}/`, (_req, reply) => {
      void reply.code(404).header('content-type', 'text/plain; charset=utf-8').send('The dashboard is not built: run npm run build.\n');
    });
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: `${DASHBOARD_PREFIX}/`,
    decorateReply: false,
    index: ['index.html'],
    setHeaders: (reply, file) => {
      void reply.header('content-security-policy', csp);
      void reply.header('x-content-type-options', 'nosniff');
      void reply.header('referrer-policy', 'no-referrer');
      // Built assets carry a content hash in their name; the page itself must be re-read.
      void reply.header('cache-control', file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
}
