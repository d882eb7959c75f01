import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsInt, IsNumber, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min, ValidateNested } from 'class-validator';
import { MAX_GANG_NODES, MIN_GANG_NODES } from '#libs/core';
import { ResourceOverridesDto } from '../../job-definitions/dto/resources.dto.js';

// A worker label key (labels.ts): what workers declare and selectors match.
const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/;

/** `nodes`: a multi-node (gang) job, its nodes placed all at once on distinct workers of one pool. */
export class NodesDto {
  @ApiProperty({ minimum: MIN_GANG_NODES, maximum: MAX_GANG_NODES, description: 'Nodes; node 0 is the main node (the job itself), nodes 1.. are `<jobId>:node<i>`' })
  @IsInt({ message: 'count must be an integer' })
  @Min(MIN_GANG_NODES)
  @Max(MAX_GANG_NODES)
  count!: number;

  @ApiPropertyOptional({ type: ResourceOverridesDto, description: 'What each node asks for (any subset overrides the definition\'s)' })
  @IsOptional()
  @IsObject({ message: 'resources must be an object' })
  @ValidateNested()
  @Type(() => ResourceOverridesDto)
  resources?: ResourceOverridesDto;

  @ApiPropertyOptional({ example: 'rack', description: 'A worker label: workers sharing its value are preferred for the nodes of one job' })
  @IsOptional()
  @IsString()
  @Matches(LABEL_KEY, { message: 'topologyKey must be a worker label key (letters, digits, ._/-, at most 63 characters)' })
  topologyKey?: string;
}

export class ResourceRequirementDto {
  @ApiProperty({ enum: ['VCPU', 'MEMORY', 'GPU'] })
  @IsIn(['VCPU', 'MEMORY', 'GPU'], { message: 'type must be VCPU, MEMORY or GPU' })
  type!: 'VCPU' | 'MEMORY' | 'GPU';

  @ApiProperty({ example: '4' })
  @IsString()
  @Matches(/^[0-9]+(\.[0-9]{1,3})?$/, { message: 'value must be a number written as a string' })
  value!: string;
}

export class NodeContainerDto {
  @ApiPropertyOptional() @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false, maxDecimalPlaces: 3 }) @Min(0.001) @Max(4096)
  vcpus?: number;

  @ApiPropertyOptional({ description: 'MiB' }) @IsOptional() @IsInt() @Min(1) @Max(16 * 1024 * 1024)
  memory?: number;

  @ApiPropertyOptional({ type: [ResourceRequirementDto] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(3)
  @ValidateNested({ each: true })
  @Type(() => ResourceRequirementDto)
  resourceRequirements?: ResourceRequirementDto[];
}

export class NodeRangePropertyDto {
  @ApiProperty({ example: '0:', description: 'AWS Batch node range: "0:", "0:3", ":3" or "2"' })
  @IsString()
  @MaxLength(16)
  targetNodes!: string;

  @ApiPropertyOptional({ type: NodeContainerDto })
  @IsOptional()
  @IsObject({ message: 'container must be an object' })
  @ValidateNested()
  @Type(() => NodeContainerDto)
  container?: NodeContainerDto;
}

/** AWS Batch's shape for the same thing; mapped onto `nodes` (one resource shape for every node). */
export class NodePropertiesDto {
  @ApiProperty({ minimum: MIN_GANG_NODES, maximum: MAX_GANG_NODES })
  @IsInt({ message: 'numNodes must be an integer' })
  @Min(MIN_GANG_NODES)
  @Max(MAX_GANG_NODES)
  numNodes!: number;

  @ApiProperty({ example: 0, description: 'Must be 0: the main node is node 0' })
  @IsInt({ message: 'mainNode must be an integer' })
  @Min(0)
  @Max(0, { message: 'mainNode must be 0: gpubatch runs the main node as node 0' })
  mainNode!: number;

  @ApiProperty({ type: [NodeRangePropertyDto] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_GANG_NODES)
  @ValidateNested({ each: true })
  @Type(() => NodeRangePropertyDto)
  nodeRangeProperties!: NodeRangePropertyDto[];
}
