import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { NEXT_CURSOR_PROPERTY } from '../../common/page.js';
import type { ContainerRequest } from '#libs/config';
import type { ExitRule } from '#libs/core';
import type { JobDefinitionEntity } from '#libs/db';

export class JobDefinitionView {
  @ApiProperty() name!: string;
  @ApiProperty() revision!: number;
  @ApiProperty({ enum: ['ACTIVE', 'INACTIVE'] }) status!: string;
  @ApiProperty() image!: string;
  @ApiProperty({ type: [String] }) command!: string[];
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) environment!: Record<string, string>;
  @ApiProperty({ example: [{ name: 'HF_TOKEN', secret: true }], description: 'Secret variables by name; their values are never returned' })
  secrets!: { name: string; secret: true }[];
  @ApiProperty({ example: { shmSizeMiB: 1024, user: '1000:1000', readonlyRootFilesystem: true, linuxCapabilities: [] } })
  containerProperties!: ContainerRequest;
  @ApiProperty({ example: { vcpus: 1, memoryMiB: 512, gpus: 1, gpuModel: 'A100' } })
  resources!: { vcpus: number; memoryMiB: number; gpus: number; gpuModel: string | null };
  @ApiPropertyOptional({ type: String, nullable: true }) labelSelector!: string | null;
  @ApiPropertyOptional({ type: Number, nullable: true }) timeoutSeconds!: number | null;
  @ApiProperty({ example: { attempts: 2, evaluateOnExit: [{ onExitCode: '3', action: 'EXIT' }] } })
  retryStrategy!: { attempts: number; evaluateOnExit: ExitRule[] };
  @ApiPropertyOptional({ nullable: true, example: { count: 2, topologyKey: 'rack' }, description: 'Set on a multi-node definition: its submits are gangs of count nodes' })
  nodes!: { count: number; topologyKey: string | null } | null;
  @ApiProperty() preemptible!: boolean;
  @ApiProperty() preemptionGraceSeconds!: number;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) parameters!: Record<string, string>;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) tags!: Record<string, string>;
  @ApiProperty() createdAt!: string;

  static of(d: JobDefinitionEntity): JobDefinitionView {
    return {
      name: d.name,
      revision: d.revision,
      status: d.status,
      image: d.image,
      command: d.command,
      environment: d.environment,
      secrets: Object.keys(d.secretEnvironment ?? {}).sort().map((name) => ({ name, secret: true as const })),
      containerProperties: d.container ?? {},
      resources: { vcpus: d.vcpus, memoryMiB: d.memoryMiB, gpus: d.gpus, gpuModel: d.gpuModel },
      labelSelector: d.labelSelector,
      timeoutSeconds: d.timeoutSeconds,
      retryStrategy: { attempts: d.retryAttempts, evaluateOnExit: d.retryRules },
      nodes: d.nodes ?? null,
      preemptible: d.preemptible, preemptionGraceSeconds: d.preemptionGraceSeconds,
      parameters: d.parameters,
      tags: d.tags,
      createdAt: d.createdAt.toISOString(),
    };
  }
}

export class JobDefinitionListView {
  @ApiProperty({ type: [JobDefinitionView] }) jobDefinitions!: JobDefinitionView[];
  @ApiProperty(NEXT_CURSOR_PROPERTY) nextCursor!: string | null;
}
