import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { CapacityType } from '#libs/core';

/** A pool of workers and its price card. Prices are decimal strings, never floats. */
@Entity('pools')
export class PoolEntity {
  @PrimaryColumn() name!: string;
  @Column({ name: 'capacity_type', type: 'varchar' }) capacityType!: CapacityType;
  @Column({ type: 'char' }) currency!: string;
  @Column({ name: 'vcpu_hour', type: 'numeric' }) vcpuHour!: string;
  @Column({ name: 'memory_gib_hour', type: 'numeric' }) memoryGiBHour!: string;
  @Column({ name: 'gpu_hour', type: 'numeric' }) gpuHour!: string;
  @Column({ name: 'gpu_hour_by_model', type: 'jsonb' }) gpuHourByModel!: Record<string, string>;
  @Column({ name: 'minimum_billed_seconds' }) minimumBilledSeconds!: number;
  // Container policy (docs/containers-and-secrets.md); defaults in the migration.
  @Column({ name: 'pids_limit' }) pidsLimit!: number;
  @Column({ name: 'nofile_limit' }) nofileLimit!: number;
  @Column({ name: 'log_max_bytes', type: 'bigint' }) logMaxBytes!: string;
  @Column({ name: 'allowed_capabilities', type: 'jsonb' }) allowedCapabilities!: string[];
  @Column({ name: 'max_shm_mib' }) maxShmMiB!: number;
  @Column({ name: 'allow_root_user' }) allowRootUser!: boolean;
  @Column({ name: 'require_readonly_root_fs' }) requireReadonlyRootFs!: boolean;
  @Column({ name: 'allow_multi_node' }) allowMultiNode!: boolean;
  @Column({ name: 'allowed_registries', type: 'jsonb', nullable: true }) allowedRegistries!: string[] | null;
  @Column({ name: 'allowed_host_paths', type: 'jsonb' }) allowedHostPaths!: string[];
  @Column({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @Column({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}
