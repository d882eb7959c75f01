import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { parsePrice } from '#libs/core';
import { projectStandings } from '#libs/db';
import { ApiError } from '../common/api-error.js';
import { DEFAULT_PAGE_SIZE, decodeKeyCursor, toPage, type PageQuery } from '../common/page.js';
import { ProjectView, type CreateProjectDto, type UpdateProjectDto } from './dto/project.dto.js';

@Injectable()
export class ProjectsService {
  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  async create(dto: CreateProjectDto): Promise<ProjectView> {
    const rows: unknown[] = await this.db.query(
      `INSERT INTO projects (name, monthly_budget, currency, gpu_quota) VALUES ($1, $2, $3, $4)
       ON CONFLICT (name) DO NOTHING RETURNING name`,
      [dto.name, dto.monthlyBudget == null ? null : parsePrice(dto.monthlyBudget), dto.currency ?? 'USD', dto.gpuQuota ?? null],
    );
    if (rows.length === 0) throw new ApiError('PROJECT_EXISTS', `project ${dto.name} already exists; PATCH /api/v1/projects/${dto.name} changes it`);
    return this.get(dto.name);
  }

  /** One page by name, of the given projects (null: every project). */
  async page(q: PageQuery, projects: string[] | null): Promise<{ rows: ProjectView[]; nextCursor: string | null }> {
    const limit = q.limit ?? DEFAULT_PAGE_SIZE;
    const after = decodeKeyCursor(q.cursor, ['string']);
    const names: { name: string }[] = await this.db.query(
      `SELECT name FROM projects WHERE ($1::text[] IS NULL OR name = ANY($1)) AND ($2::text IS NULL OR name > $2) ORDER BY name LIMIT $3`,
      [projects, after?.[0] ?? null, limit + 1],
    );
    const page = toPage(names.map((r) => r.name), limit, (name) => [name]);
    const [standings, held] = await Promise.all([projectStandings(this.db, new Date(), page.rows), this.gpusHeld(page.rows)]);
    return { rows: standings.map((p) => ProjectView.of(p, held.get(p.name) ?? 0)), nextCursor: page.nextCursor };
  }

  async get(name: string): Promise<ProjectView> {
    const [[standing], held] = await Promise.all([projectStandings(this.db, new Date(), [name]), this.gpusHeld([name])]);
    if (!standing) throw new ApiError('PROJECT_NOT_FOUND', `project ${name} does not exist`);
    return ProjectView.of(standing, held.get(name) ?? 0);
  }

  /** The scheduler checks the projects' limits every pass: a change applies from its next placement. */
  async update(name: string, dto: UpdateProjectDto): Promise<ProjectView> {
    const sets: string[] = [];
    const values: unknown[] = [name];
    const set = (column: string, value: unknown) => {
      values.push(value);
      sets.push(`${column} = $${values.length}`);
    };
    if (dto.monthlyBudget !== undefined) set('monthly_budget', dto.monthlyBudget === null ? null : parsePrice(dto.monthlyBudget));
    if (dto.currency !== undefined) set('currency', dto.currency);
    if (dto.gpuQuota !== undefined) set('gpu_quota', dto.gpuQuota);
    const rows: unknown[] = await this.db.query(
      `UPDATE projects SET ${[...sets, 'updated_at = now()'].join(', ')} WHERE name = $1 RETURNING name`, values,
    );
    if (rows.length === 0) throw new ApiError('PROJECT_NOT_FOUND', `project ${name} does not exist`);
    return this.get(name);
  }

  private async gpusHeld(projects: string[]): Promise<Map<string, number>> {
    const rows: { project: string; gpus: number }[] = await this.db.query(
      `SELECT j.project, sum(cardinality(a.gpu_devices))::int AS gpus
       FROM job_attempts a JOIN jobs j ON j.id = a.job_id
       WHERE a.status IN ('STARTING', 'RUNNING') AND j.project = ANY($1)
       GROUP BY j.project`,
      [projects],
    );
    return new Map(rows.map((r) => [r.project, r.gpus]));
  }
}
