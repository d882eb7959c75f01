import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ApiError } from '../common/api-error.js';
import type { Caller } from './caller.js';

/**
 * Project checks of data the route table cannot see. What a caller may not
 * read does not exist for it (404 with the usual code, never 403); what it
 * may read but not act on is 403.
 */
@Injectable()
export class ProjectAccess {
  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  /** The job exists for the caller with this right; returns its project. */
  async job(caller: Caller, id: string, access: 'read' | 'submit'): Promise<string> {
    const [row]: { project: string }[] = await this.db.query(`SELECT project FROM jobs WHERE id = $1`, [id]);
    if (!row || !caller.can('read', row.project)) throw new ApiError('JOB_NOT_FOUND', `job ${id} does not exist`);
    if (!caller.can(access, row.project)) throw new ApiError('FORBIDDEN', `${caller.id} may read but not change project ${row.project}`);
    return row.project;
  }

  /** The schedule exists for the caller with this right (its project: its submit body's). */
  async schedule(caller: Caller, name: string, access: 'read' | 'submit'): Promise<void> {
    const [row]: { project: string }[] = await this.db.query(`SELECT COALESCE(submit->>'project', 'default') AS project FROM schedules WHERE name = $1`, [name]);
    if (!row || !caller.can('read', row.project)) throw new ApiError('SCHEDULE_NOT_FOUND', `schedule ${name} does not exist`);
    if (!caller.can(access, row.project)) throw new ApiError('FORBIDDEN', `${caller.id} may read but not change project ${row.project}`);
  }

  /** Submitting into a project (the submit body's, default 'default'). */
  submit(caller: Caller, project: string | undefined): void {
    const target = project ?? 'default';
    if (!caller.can('submit', target)) throw new ApiError('FORBIDDEN', `${caller.id} may not submit to project ${target}`);
  }

  /** The readable projects as a SQL filter argument: null for every project. */
  readable(caller: Caller): string[] | null {
    const r = caller.readable();
    return r === 'all' ? null : r;
  }
}
