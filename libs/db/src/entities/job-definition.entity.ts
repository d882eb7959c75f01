import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { ContainerRequest } from '#libs/config';
import type { ExitRule } from '#libs/core';
import { numericToNumber } from './numeric.transformer.js';

@Entity('job_definitions')
export class JobDefinitionEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id!: string;
  @Column() name!: string;
  @Column() revision!: number;
  @Column() status!: 'ACTIVE' | 'INACTIVE';
  @Column() image!: string;
  @Column({ type: 'jsonb' }) command!: string[];
  @Column({ type: 'jsonb' }) environment!: Record<string, string>;
  /** What the definition asks of its container (shmSizeMiB, user, readonlyRootFilesystem, linuxCapabilities). */
  @Column({ type: 'jsonb' }) container!: ContainerRequest;
  /** Name → AES-256-GCM sealed value (libs/config secrets.ts); never shown. */
  @Column({ name: 'secret_environment', type: 'jsonb' }) secretEnvironment!: Record<string, string>;
  @Column({ type: 'numeric', transformer: numericToNumber }) vcpus!: number;
  @Column({ name: 'memory_mib' }) memoryMiB!: number;
  @Column() gpus!: number;
  @Column({ name: 'gpu_model', type: 'text', nullable: true }) gpuModel!: string | null;
  @Column({ name: 'label_selector', type: 'text', nullable: true }) labelSelector!: string | null;
  @Column({ name: 'timeout_seconds', type: 'integer', nullable: true }) timeoutSeconds!: number | null;
  @Column({ name: 'retry_attempts' }) retryAttempts!: number;
  @Column() preemptible!: boolean;
  @Column({ name: 'preemption_grace_seconds' }) preemptionGraceSeconds!: number;
  @Column({ name: 'retry_rules', type: 'jsonb' }) retryRules!: ExitRule[];
  @Column({ type: 'jsonb' }) parameters!: Record<string, string>;
  /** A multi-node definition's gang: every node runs this definition's container and resources; null for a single-node one. */
  @Column({ type: 'jsonb', nullable: true }) nodes!: { count: number; topologyKey: string | null } | null;
  @Column({ type: 'jsonb' }) tags!: Record<string, string>;
  @Column({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
}
