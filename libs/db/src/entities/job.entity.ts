import type { ContainerRequest } from '#libs/config';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { JobStatus } from '#libs/core';
import { numericToNumber } from './numeric.transformer.js';

@Entity('jobs')
export class JobEntity {
  @PrimaryColumn() id!: string;
  @Column() name!: string;
  @Column() queue!: string;
  @Column({ name: 'definition_id', type: 'bigint' }) definitionId!: string;
  @Column({ type: 'varchar' }) status!: JobStatus;
  @Column({ name: 'status_reason', type: 'text', nullable: true }) statusReason!: string | null;
  @Column() priority!: number;
  @Column() image!: string;
  @Column({ type: 'jsonb' }) command!: string[];
  @Column({ type: 'jsonb' }) environment!: Record<string, string>;
  /** The definition's container requests, copied at submit. */
  @Column({ type: 'jsonb' }) container!: ContainerRequest;
  /** Name → AES-256-GCM sealed value: the definition's and the submit's secrets; never shown. */
  @Column({ name: 'secret_environment', type: 'jsonb' }) secretEnvironment!: Record<string, string>;
  @Column({ type: 'numeric', transformer: numericToNumber }) vcpus!: number;
  @Column({ name: 'memory_mib' }) memoryMiB!: number;
  @Column() gpus!: number;
  @Column({ name: 'gpu_model', type: 'text', nullable: true }) gpuModel!: string | null;
  @Column({ name: 'label_selector', type: 'text', nullable: true }) labelSelector!: string | null;
  @Column({ name: 'timeout_seconds', type: 'integer', nullable: true }) timeoutSeconds!: number | null;
  @Column({ name: 'max_attempts' }) maxAttempts!: number;
  @Column({ name: 'attempt_count' }) attemptCount!: number;
  @Column() project!: string;
  @Column() interruptible!: boolean;
  @Column({ type: 'jsonb' }) tags!: Record<string, string>;
  @Column({ name: 'client_token', type: 'varchar', nullable: true }) clientToken!: string | null;
  @Column({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @Column({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
  @Column({ name: 'started_at', type: 'timestamptz', nullable: true }) startedAt!: Date | null;
  @Column({ name: 'stopped_at', type: 'timestamptz', nullable: true }) stoppedAt!: Date | null;
}
