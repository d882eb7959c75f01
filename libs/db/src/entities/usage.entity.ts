import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { numericToNumber } from './numeric.transformer.js';
import type { CapacityType } from '#libs/core';

/**
 * One row per attempt that ran: what was held, where, for how long, at which
 * rates and for what cost. Written when the container starts, accrued while
 * it runs (`running`), settled once when it stops. Never deleted.
 */
@Entity('usage')
export class UsageEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id!: string;
  @Column({ name: 'job_id' }) jobId!: string;
  @Column() attempt!: number;
  @Column() project!: string;
  @Column() queue!: string;
  @Column() definition!: string;
  /** The array job, for a child of one. */
  @Column({ name: 'array_job_id', type: 'varchar', nullable: true }) arrayJobId!: string | null;
  @Column({ type: 'jsonb' }) tags!: Record<string, string>;
  @Column({ name: 'worker_id' }) workerId!: string;
  @Column() pool!: string;
  @Column({ name: 'capacity_type', type: 'varchar' }) capacityType!: CapacityType;
  @Column({ type: 'numeric', transformer: numericToNumber }) vcpus!: number;
  @Column({ name: 'memory_mib' }) memoryMiB!: number;
  @Column() gpus!: number;
  @Column({ name: 'gpu_model', type: 'text', nullable: true }) gpuModel!: string | null;
  @Column({ name: 'started_at', type: 'timestamptz' }) startedAt!: Date;
  @Column({ name: 'stopped_at', type: 'timestamptz' }) stoppedAt!: Date;
  @Column({ name: 'billed_seconds' }) billedSeconds!: number;
  @Column({ type: 'char' }) currency!: string;
  @Column({ name: 'vcpu_hour', type: 'numeric' }) vcpuHour!: string;
  @Column({ name: 'memory_gib_hour', type: 'numeric' }) memoryGiBHour!: string;
  @Column({ name: 'gpu_hour', type: 'numeric' }) gpuHour!: string;
  @Column({ name: 'minimum_billed_seconds' }) minimumBilledSeconds!: number;
  @Column({ type: 'numeric' }) cost!: string;
  @Column() running!: boolean;
  @Column({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
}
