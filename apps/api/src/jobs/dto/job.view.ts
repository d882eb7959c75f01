import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { JOB_STATUSES, type ExitRule } from '#libs/core';

export class CostEstimateView {
  @ApiProperty({ example: '12.500000', description: 'Every attempt (and every array child) runs to its timeout' }) amount!: string;
  @ApiProperty({ example: 'USD' }) currency!: string;
  @ApiProperty({ example: '6.250000', description: 'One attempt that runs to its timeout' }) perAttempt!: string;
  @ApiProperty({ description: 'The cheapest pool that may run it, which the estimate assumes' }) pool!: string;
}

export class SubmitJobResponse {
  @ApiProperty() jobId!: string;
  @ApiProperty() name!: string;
  @ApiPropertyOptional({ type: CostEstimateView, description: 'Most the job can cost; present when it has a timeout and a priced pool may run it' })
  estimatedMaxCost?: CostEstimateView;
}

export class JobSummaryView {
  @ApiProperty() jobId!: string;
  @ApiProperty() name!: string;
  @ApiProperty() queue!: string;
  @ApiProperty() project!: string;
  @ApiProperty({ description: 'GPUs each attempt (each array child) holds' }) gpus!: number;
  @ApiPropertyOptional({ type: Number, nullable: true, description: 'Children of an array job; null otherwise' }) arraySize!: number | null;
  @ApiProperty({ enum: JOB_STATUSES }) status!: string;
  @ApiPropertyOptional({ type: String, nullable: true, description: 'Why it waits, or why it ended' }) statusReason!: string | null;
  @ApiProperty() priority!: number;
  @ApiProperty() createdAt!: string;
  @ApiPropertyOptional({ type: String, nullable: true }) startedAt!: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) stoppedAt!: string | null;
  @ApiProperty({
    description: 'True when an attempt of it held GPUs it left idle (sampled, and under 5% busy on average); known once an attempt ends. '
      + "An array parent has no attempts of its own: see its children's.",
  })
  gpuIdle!: boolean;
}

export class JobListView {
  @ApiProperty({ type: [JobSummaryView] }) jobs!: JobSummaryView[];
  @ApiPropertyOptional({ type: String, nullable: true, description: 'Pass as cursor for the next page' }) nextCursor!: string | null;
}

export class AttemptView {
  @ApiProperty() attempt!: number;
  @ApiProperty() status!: string;
  @ApiProperty() workerId!: string;
  @ApiProperty() pool!: string;
  @ApiProperty({ type: [Number] }) gpuDevices!: number[];
  @ApiPropertyOptional({ type: String, nullable: true }) containerId!: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) startedAt!: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) stoppedAt!: string | null;
  @ApiPropertyOptional({ type: Number, nullable: true }) exitCode!: number | null;
  @ApiPropertyOptional({ type: String, nullable: true }) reason!: string | null;
  @ApiPropertyOptional({ type: () => AttemptCostView, nullable: true, description: 'null until the container starts' })
  cost!: AttemptCostView | null;
  @ApiPropertyOptional({
    type: () => GpuUtilizationView, nullable: true,
    description: 'What its GPUs did, sampled by its worker with nvidia-smi; null until the attempt ends, and where nothing was sampled',
  })
  gpuUtilization!: GpuUtilizationView | null;
}

export class GpuUtilizationView {
  @ApiProperty({ description: 'Sampling rounds' }) samples!: number;
  @ApiProperty({ description: 'Mean utilisation of its GPUs, percent' }) avgPercent!: number;
  @ApiProperty({ description: 'Highest utilisation any of its GPUs showed, percent' }) peakPercent!: number;
  @ApiProperty({ description: 'Memory used on its GPUs together, mean' }) avgMemoryMiB!: number;
  @ApiProperty() peakMemoryMiB!: number;
  @ApiProperty({ description: 'Share of its GPU samples under 5% busy' }) idleFraction!: number;
  @ApiProperty({ description: 'True when its GPUs averaged under 5% busy: it held GPUs it did not use' }) idle!: boolean;
}

export class AttemptCostView {
  @ApiProperty({ example: '0.004167', description: 'Decimal string; so far while running' }) amount!: string;
  @ApiProperty({ example: 'USD' }) currency!: string;
  @ApiProperty() billedSeconds!: number;
  @ApiProperty({ description: 'True while the attempt runs: amount and billedSeconds are accrued so far' }) running!: boolean;
  @ApiProperty({ enum: ['ON_DEMAND', 'SPOT'] }) capacityType!: string;
  @ApiPropertyOptional({ type: String, nullable: true }) gpuModel!: string | null;
  @ApiProperty({ description: 'The rates it is billed at, fixed when it started', example: { vcpuHour: '0.040000', memoryGiBHour: '0.005000', gpuHour: '3.000000', minimumBilledSeconds: 0 } })
  rates!: { vcpuHour: string; memoryGiBHour: string; gpuHour: string; minimumBilledSeconds: number };
}

export class JobEventView {
  @ApiProperty() at!: string;
  @ApiPropertyOptional({ type: String, nullable: true }) from!: string | null;
  @ApiProperty() to!: string;
  @ApiPropertyOptional({ type: String, nullable: true }) reason!: string | null;
}

export class JobDetailView extends JobSummaryView {
  @ApiProperty({ description: 'name:revision' }) definition!: string;
  @ApiProperty() image!: string;
  @ApiProperty({ type: [String] }) command!: string[];
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) environment!: Record<string, string>;
  @ApiProperty({ example: [{ name: 'HF_TOKEN', secret: true }], description: 'Secret variables by name; their values are never returned' })
  secrets!: { name: string; secret: true }[];
  @ApiProperty({ example: { shmSizeMiB: 1024, user: '1000:1000' }, description: "The definition's container requests (the pool's policy bounds them)" })
  containerProperties!: Record<string, unknown>;
  @ApiProperty() resources!: { vcpus: number; memoryMiB: number; gpus: number; gpuModel: string | null };
  @ApiPropertyOptional({ type: String, nullable: true }) labelSelector!: string | null;
  @ApiPropertyOptional({ type: Number, nullable: true }) timeoutSeconds!: number | null;
  @ApiProperty() retryStrategy!: { attempts: number; evaluateOnExit: ExitRule[] };
  @ApiProperty({ example: [{ jobId: '…' }] }) dependsOn!: { jobId: string }[];
  @ApiPropertyOptional({
    nullable: true,
    description: 'A parent: size and children per status. A child: its parent and index.',
    example: { size: 100, statusSummary: { SUCCEEDED: 40, RUNNING: 8, RUNNABLE: 52 } },
  })
  arrayProperties!: { size: number; statusSummary: Record<string, number> } | { parentId: string; index: number } | null;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, description: "The Ref:: parameters it was submitted with: the definition's defaults, the submit's over them" })
  parameters!: Record<string, string>;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) tags!: Record<string, string>;
  @ApiProperty() interruptible!: boolean;
  @ApiProperty() preemptible!: boolean;
  @ApiProperty() preemptionGraceSeconds!: number;
  @ApiProperty({ description: 'How often it was preempted: what its next attempt sees as GPUBATCH_RESTART_COUNT' }) preemptionCount!: number;
  @ApiPropertyOptional({
    nullable: true,
    description: 'Multi-node jobs. On the main node (the job): numNodes, topologyKey and every node with its job id and status. On another node: its index and the main node\'s job id.',
  })
  nodeProperties!:
    | { numNodes: number; mainNode: 0; topologyKey: string | null; nodes: { nodeIndex: number; jobId: string; status: string; statusReason: string | null }[] }
    | { nodeIndex: number; mainJobId: string }
    | null;
  @ApiProperty({
    type: 'object', additionalProperties: { type: 'string' }, example: { USD: '0.012500' },
    description: 'Cost of all its attempts so far, by currency (decimal strings)',
  })
  cost!: Record<string, string>;
  @ApiProperty({ description: 'True when the job is finished and no attempt is still accruing' }) costFinal!: boolean;
  @ApiProperty({ type: [AttemptView] }) attempts!: AttemptView[];
  @ApiProperty({ type: [JobEventView] }) events!: JobEventView[];
}

export class LogLineView {
  @ApiProperty({ enum: ['stdout', 'stderr'] }) stream!: string;
  @ApiProperty() at!: string;
  @ApiProperty() text!: string;
}

export class JobLogsView {
  @ApiProperty() jobId!: string;
  @ApiPropertyOptional({ type: Number, nullable: true, description: 'null when the job has not run yet' }) attempt!: number | null;
  @ApiProperty({ type: [LogLineView] }) lines!: LogLineView[];
}
