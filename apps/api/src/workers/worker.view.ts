import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { NEXT_CURSOR_PROPERTY } from '../common/page.js';

export class GpuView {
  @ApiProperty() index!: number;
  @ApiPropertyOptional({ type: Number, nullable: true }) nvlinkGroup!: number | null;
  @ApiPropertyOptional({ type: String, nullable: true }) uuid!: string | null;
  @ApiProperty() model!: string;
  @ApiProperty() memoryMiB!: number;
  @ApiProperty({ description: 'A STARTING or RUNNING job holds it' }) held!: boolean;
  @ApiPropertyOptional({ type: String, nullable: true, description: "The job holding it; null when free, or held by a job of a project the caller cannot read" })
  jobId!: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) queue!: string | null;
  @ApiPropertyOptional({ type: String, nullable: true, description: 'Project of the job holding this GPU' }) project!: string | null;
}

export class ResourceUseView {
  @ApiProperty() vcpus!: number;
  @ApiProperty() memoryMiB!: number;
  @ApiProperty() gpus!: number;
}

export class WorkerView {
  @ApiProperty() workerId!: string;
  @ApiProperty() pool!: string;
  @ApiProperty() hostname!: string;
  @ApiProperty({ enum: ['ACTIVE', 'DRAINING', 'LOST', 'LEFT'] }) state!: string;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) labels!: Record<string, string>;
  @ApiProperty({ type: ResourceUseView, description: 'Declared capacity' }) capacity!: ResourceUseView;
  @ApiProperty({ type: ResourceUseView, description: 'Held by STARTING and RUNNING jobs' }) allocated!: ResourceUseView;
  @ApiProperty({ type: ResourceUseView, description: 'Capacity minus allocation' }) free!: ResourceUseView;
  @ApiProperty({ type: [GpuView] }) gpus!: GpuView[];
  @ApiProperty() runningJobs!: number;
  @ApiProperty() registeredAt!: string;
  @ApiProperty() lastHeartbeatAt!: string;
}

export class WorkerListView {
  @ApiProperty({ type: [WorkerView] }) workers!: WorkerView[];
  @ApiProperty(NEXT_CURSOR_PROPERTY) nextCursor!: string | null;
}
