import type { Access } from './require-access.decorator.js';

export const ROLES = ['viewer', 'member', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Each role holds the rights of the ones before it. */
const RANK: Record<Role, number> = { viewer: 1, member: 2, operator: 3, admin: 4 };
const NEEDS: Record<Exclude<Access, 'public'>, number> = { read: 1, observe: 1, submit: 2, operate: 3, admin: 4 };

/** Every project: a binding on '*' applies to all of them, present and future. */
export const ALL_PROJECTS = '*';

/** Who is calling and what they may do: their roles per project ('*' for every project). */
export class Caller {
  constructor(
    /** `key:<id>` or `user:<subject>`: what the audit log records. */
    readonly id: string,
    readonly roles: ReadonlyMap<string, Role>,
  ) {}

  /** The caller's role in a project: the higher of its binding there and its binding on every project. */
  roleIn(project: string): Role | undefined {
    const here = this.roles.get(project);
    const everywhere = this.roles.get(ALL_PROJECTS);
    if (!here) return everywhere;
    if (!everywhere) return here;
    return RANK[here] >= RANK[everywhere] ? here : everywhere;
  }

  can(access: Exclude<Access, 'public'>, project: string): boolean {
    const role = this.roleIn(project);
    return role !== undefined && RANK[role] >= NEEDS[access];
  }

  /** Holds the access on every project (cluster-wide things: queues, pools, workers, keys). */
  canEverywhere(access: Exclude<Access, 'public'>): boolean {
    const role = this.roles.get(ALL_PROJECTS);
    return role !== undefined && RANK[role] >= NEEDS[access];
  }

  /** Holds the access in at least one project. */
  canSomewhere(access: Exclude<Access, 'public'>): boolean {
    for (const role of this.roles.values()) if (RANK[role] >= NEEDS[access]) return true;
    return false;
  }

  /** The projects whose data the caller sees: every one, or the listed ones. */
  readable(): 'all' | string[] {
    if (this.roles.has(ALL_PROJECTS)) return 'all';
    return [...this.roles.keys()];
  }
}

/** Roles of a key limited to one project: its bindings there and on '*' apply to that project only. */
export function limitToProject(bindings: { project: string; role: Role }[], project: string | null): Map<string, Role> {
  const roles = new Map<string, Role>();
  for (const b of bindings) {
    const target = project === null ? b.project : b.project === ALL_PROJECTS || b.project === project ? project : undefined;
    if (target === undefined) continue;
    const had = roles.get(target);
    if (!had || RANK[b.role] > RANK[had]) roles.set(target, b.role);
  }
  return roles;
}
