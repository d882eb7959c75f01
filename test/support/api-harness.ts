import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { loadApiConfig } from '#libs/config';
import { openTestDatabase } from './database.js';
import { createLogger } from '#libs/log';
import { createApiApp } from '../../apps/api/src/api-app.js';
import { TEST_ADMIN_KEY, TEST_AUTH_ENV, testEnv } from './test-env.js';

export interface Reply<T = any> {
  status: number;
  body: T;
}

/** The real API (Fastify, validation, Postgres, Redis) listening on a free loopback port, driven over HTTP. */
export class ApiHarness {
  private constructor(readonly app: NestFastifyApplication, readonly db: DataSource, readonly baseUrl: string) {}

  static async start(env: Record<string, string> = {}): Promise<ApiHarness> {
    const { databaseUrl, redisUrl } = testEnv();
    const config = loadApiConfig({ DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, ...TEST_AUTH_ENV, ...env });
    const app = await createApiApp(config, createLogger('api-test', 'silent'), { docs: false });
    await app.listen(0, '127.0.0.1');
    const address = app.getHttpServer().address() as AddressInfo;
    const db = await openTestDatabase(2);
    return new ApiHarness(app, db, `http://127.0.0.1:${address.port}`);
  }

  /**
   * Sends the admin key unless `headers` has its own authorization; an
   * authorization of '' sends none.
   */
  async request<T = any>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT', url: string, payload?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> {
    const all: Record<string, string> = {
      authorization: `Bearer ${TEST_ADMIN_KEY}`,
      ...(payload !== undefined && typeof payload !== 'string' ? { 'content-type': 'application/json' } : {}),
      ...headers,
    };
    if (all.authorization === '') delete all.authorization;
    const res = await fetch(this.baseUrl + url, {
      method,
      headers: all,
      body: payload === undefined ? undefined : typeof payload === 'string' ? payload : JSON.stringify(payload),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? safeJson(text) : undefined) as T };
  }

  post<T = any>(url: string, payload: unknown) { return this.request<T>('POST', url, payload); }
  get<T = any>(url: string) { return this.request<T>('GET', url); }

  /** A queue and a definition with fresh names, for one test. */
  async fixture(definition: Record<string, unknown> = {}, queue: Record<string, unknown> = {}): Promise<{ queue: string; definition: string }> {
    const suffix = randomUUID().slice(0, 8);
    const q = await this.post('/api/v1/job-queues', { name: `q-${suffix}`, priority: 1, ...queue });
    const d = await this.post('/api/v1/job-definitions', {
      name: `d-${suffix}`, image: testEnv().testImage, command: ['true'], resources: { vcpus: 0.25, memoryMiB: 64 }, ...definition,
    });
    if (q.status !== 201 || d.status !== 201) throw new Error(`fixture failed: ${JSON.stringify([q.body, d.body])}`);
    return { queue: q.body.name, definition: d.body.name };
  }

  async close(): Promise<void> {
    await this.app.close();
    await this.db.destroy();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
