import { SetMetadata } from '@nestjs/common';

/**
 * What a route needs from its caller, checked by the auth guard against the
 * caller's roles (and, for project-scoped data, the project concerned):
 * - `public`: no credentials (the probes only);
 * - `read`: any role that can see the project (viewer and up);
 * - `submit`: submit, cancel and terminate jobs (member and up);
 * - `operate`: workers, pools, queues, drain, join tokens (operator and admin);
 * - `admin`: keys, projects' roles, the audit log;
 * - `observe`: read on every project ('*'): cluster-wide figures such as /metrics.
 */
export type Access = 'public' | 'read' | 'submit' | 'operate' | 'admin' | 'observe';

export const ACCESS_METADATA = 'gpubatch:access';

/** Declares what a route (or a whole controller) needs; a route without it is refused. */
export const RequireAccess = (access: Access) => SetMetadata(ACCESS_METADATA, access);
