import { ModulesContainer } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { RequestMethod } from '@nestjs/common';
import { ACCESS_METADATA, type Access } from '../../apps/api/src/auth/require-access.decorator.js';
import type { ApiHarness } from './api-harness.js';

export interface RouteEntry {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
  /** With every :param replaced by a value that names nothing. */
  path: string;
  template: string;
  access: Access | undefined;
}

/** Every route the API serves, read from Nest's own route table (controllers' metadata), with its declared access. */
export function routeTable(app: NestFastifyApplication): RouteEntry[] {
  const routes: RouteEntry[] = [];
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const ctrl = wrapper.metatype as (new (...args: never[]) => object) | undefined;
      if (!ctrl) continue;
      const base = String(Reflect.getMetadata('path', ctrl) ?? '');
      const classAccess = Reflect.getMetadata(ACCESS_METADATA, ctrl) as Access | undefined;
      for (const name of Object.getOwnPropertyNames(ctrl.prototype)) {
        const handler = (ctrl.prototype as Record<string, unknown>)[name];
        if (typeof handler !== 'function' || name === 'constructor') continue;
        const verb = Reflect.getMetadata('method', handler) as RequestMethod | undefined;
        if (verb === undefined) continue;
        const sub = String(Reflect.getMetadata('path', handler) ?? '');
        // Fastify reads `::` as a literal colon (`jobs::batch` is /jobs:batch); a parameter follows a slash.
        const declared = '/' + [base, sub].map((p) => p.replace(/^\/|\/$/g, '')).filter(Boolean).join('/');
        const template = declared.replace(/::/g, ':');
        routes.push({
          method: RequestMethod[verb] as RouteEntry['method'],
          template,
          path: template.replace(/\/:[A-Za-z]+/g, '/zz-nothing'),
          access: (Reflect.getMetadata(ACCESS_METADATA, handler) as Access | undefined) ?? classAccess,
        });
      }
    }
  }
  return routes;
}

/** A new API key made by the admin over the API; returns the key itself. */
export async function makeKey(api: ApiHarness, roles: { project: string; role: string }[], extra: Record<string, unknown> = {}): Promise<{ id: string; key: string }> {
  const res = await api.post('/api/v1/api-keys', { name: `test-${roles.map((r) => `${r.role}@${r.project}`).join(',') || 'none'}`, roles, ...extra });
  if (res.status !== 201) throw new Error(`key creation failed: ${JSON.stringify(res.body)}`);
  return { id: res.body.id, key: res.body.key };
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
