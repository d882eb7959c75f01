import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class GpuView {
  @ApiProperty() index!: number;
  @ApiPropertyOptional({ type: Number, nullable: true }) nvlinkGroup!: number | null;
  @ApiPropertyOptional({ type: String, nullable: true }) uuid!: string | null;
  @ApiProperty() model!: string;
  @ApiProperty() memoryMiB!: number;
  @ApiPropertyOptional({ type: String, nullable: true, description: 'Job holding this GPU' }) jobId!: string | null;
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
