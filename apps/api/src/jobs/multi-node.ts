import type { EntityManager } from 'typeorm';
import { ApiError } from '../common/api-error.js';
import type { NodePropertiesDto, NodesDto } from './dto/nodes.dto.js';

/** A multi-node request as the API stores it: one resource shape for every node. */
export interface MultiNodeSpec {
  count: number;
  resources: { vcpus?: number; memoryMiB?: number; gpus?: number; gpuModel?: string };
  topologyKey: string | null;
}

/**
 * The multi-node request of a submit, from `nodes` or from AWS Batch's
 * `nodeProperties` (its ranges must give every node the same container
 * resources); undefined for a single-node job. 400 naming the field otherwise.
 */
export function multiNodeSpec(dto: { nodes?: NodesDto; nodeProperties?: NodePropertiesDto; array?: unknown }): MultiNodeSpec | undefined {
  if (dto.nodes && dto.nodeProperties) throw new ApiError('VALIDATION_FAILED', 'give nodes or nodeProperties, not both');
  if ((dto.nodes || dto.nodeProperties) && dto.array) throw new ApiError('VALIDATION_FAILED', 'a multi-node job (nodes) cannot be an array job (array)');
  if (dto.nodes) return { count: dto.nodes.count, resources: { ...dto.nodes.resources }, topologyKey: dto.nodes.topologyKey ?? null };
  if (!dto.nodeProperties) return undefined;
  const p = dto.nodeProperties;
  const covered = new Array<boolean>(p.numNodes).fill(false);
  let shape: string | undefined;
  let resources: MultiNodeSpec['resources'] = {};
  p.nodeRangeProperties.forEach((range, i) => {
    const field = `nodeProperties.nodeRangeProperties[${i}]`;
    const [from, to] = nodeRange(range.targetNodes, p.numNodes, `${field}.targetNodes`);
    for (let n = from; n <= to; n++) {
      if (covered[n]) throw new ApiError('VALIDATION_FAILED', `${field}.targetNodes covers node ${n}, which an earlier range covers too`);
      covered[n] = true;
    }
    const c = range.container ?? {};
    const r: MultiNodeSpec['resources'] = {};
    if (c.vcpus !== undefined) r.vcpus = c.vcpus;
    if (c.memory !== undefined) r.memoryMiB = c.memory;
    for (const req of c.resourceRequirements ?? []) {
      const value = Number(req.value);
      if (req.type === 'VCPU') r.vcpus = value;
      if (req.type === 'MEMORY') r.memoryMiB = value;
      if (req.type === 'GPU') r.gpus = value;
    }
    const key = JSON.stringify([r.vcpus, r.memoryMiB, r.gpus]);
    if (shape !== undefined && key !== shape) {
      throw new ApiError('VALIDATION_FAILED', `${field}.container asks for other resources than the ranges before it: every node of a job must ask for the same`);
    }
    shape = key;
    resources = r;
  });
  const missing = covered.findIndex((c) => !c);
  if (missing >= 0) throw new ApiError('VALIDATION_FAILED', `nodeProperties.nodeRangeProperties covers no range for node ${missing}`);
  if (resources.memoryMiB !== undefined && (!Number.isInteger(resources.memoryMiB) || resources.memoryMiB < 1)) {
    throw new ApiError('VALIDATION_FAILED', 'nodeProperties MEMORY must be a whole number of MiB, at least 1');
  }
  if (resources.gpus !== undefined && (!Number.isInteger(resources.gpus) || resources.gpus > 64)) {
    throw new ApiError('VALIDATION_FAILED', 'nodeProperties GPU must be a whole number from 0 to 64');
  }
  return { count: p.numNodes, resources, topologyKey: null };
}

/**
 * The gang a submit makes once its definition is known: a multi-node
 * definition makes every submit of it a gang of its count, which the submit's
 * own `nodes` / `nodeProperties` may change (count, resources, topology key),
 * as on a single-node definition.
 */
export function withDefinitionNodes(
  spec: MultiNodeSpec | undefined,
  dto: { array?: unknown },
  definition: { name: string; revision: number; nodes: { count: number; topologyKey: string | null } | null },
): MultiNodeSpec | undefined {
  if (!definition.nodes) return spec;
  if (dto.array) {
    throw new ApiError('VALIDATION_FAILED', `array: job definition ${definition.name}:${definition.revision} is multi-node (nodes), and a multi-node job cannot be an array job`);
  }
  return {
    count: spec?.count ?? definition.nodes.count,
    resources: spec?.resources ?? {},
    topologyKey: spec?.topologyKey ?? definition.nodes.topologyKey,
  };
}

/** AWS Batch's `targetNodes`: "2", "0:", ":3", "1:3" (inclusive). */
export function nodeRange(text: string, numNodes: number, field: string): [number, number] {
  const m = /^([0-9]*)(:([0-9]*))?$/.exec(text);
  if (!m || (m[1] === '' && m[2] === undefined)) throw new ApiError('VALIDATION_FAILED', `${field} must be "n", "n:", ":m" or "n:m", got "${text}"`);
  const from = m[1] === '' ? 0 : Number(m[1]);
  const to = m[2] === undefined ? from : m[3] === '' ? numNodes - 1 : Number(m[3]);
  if (from > to || to >= numNodes) throw new ApiError('VALIDATION_FAILED', `${field} "${text}" is not a range of nodes 0..${numNodes - 1}`);
  return [from, to];
}

/**
 * Inserts nodes 1..count-1 of a multi-node job as its children
 * (`<id>:node<i>`, `node_index` i), in the main node's state, with its
 * dependencies: the nodes wait and start together.
 */
export async function insertNodeJobs(tx: EntityManager, mainId: string, count: number, dependsOn: string[]): Promise<void> {
  await tx.query(
    `INSERT INTO jobs (id, name, queue, definition_id, status, status_reason, priority, image, command, environment,
                       vcpus, memory_mib, gpus, gpu_model, label_selector, timeout_seconds, max_attempts, project, tags,
                       interruptible, retry_rules, parent_id, node_count, node_index, topology_key, created_at, updated_at, stopped_at, container, secret_environment, parameters)
     SELECT p.id || ':node' || i, p.name, p.queue, p.definition_id, p.status, p.status_reason, p.priority, p.image, p.command, p.environment,
            p.vcpus, p.memory_mib, p.gpus, p.gpu_model, p.label_selector, p.timeout_seconds, p.max_attempts, p.project, p.tags,
            p.interruptible, p.retry_rules, p.id, p.node_count, i, p.topology_key,
            p.created_at + i * interval '1 microsecond', p.created_at + i * interval '1 microsecond', p.stopped_at, p.container, p.secret_environment, p.parameters
     FROM jobs p CROSS JOIN generate_series(1, $2 - 1) AS i WHERE p.id = $1`,
    [mainId, count],
  );
  if (dependsOn.length) {
    await tx.query(
      `INSERT INTO job_dependencies (job_id, depends_on) SELECT $1 || ':node' || i, d FROM generate_series(1, $2 - 1) AS i, unnest($3::varchar[]) AS d`,
      [mainId, count, dependsOn],
    );
  }
  await tx.query(
    `INSERT INTO job_events (job_id, at, from_status, to_status, reason)
     SELECT id, created_at, NULL, 'SUBMITTED', 'Job submitted' FROM jobs WHERE parent_id = $1
     UNION ALL
     SELECT id, created_at, 'SUBMITTED', status, status_reason FROM jobs WHERE parent_id = $1`,
    [mainId],
  );
}
