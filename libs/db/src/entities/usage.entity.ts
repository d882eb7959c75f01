import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { numericToNumber } from './numeric.transformer.js';

/** One row per finished attempt: what was held, for how long, billed once. */
@Entity('usage')
export class UsageEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id!: string;
  @Column({ name: 'job_id' }) jobId!: string;
  @Column() attempt!: number;
  @Column({ name: 'worker_id' }) workerId!: string;
  @Column() pool!: string;
  @Column({ type: 'numeric', transformer: numericToNumber }) vcpus!: number;
  @Column({ name: 'memory_mib' }) memoryMiB!: number;
  @Column() gpus!: number;
  @Column({ name: 'started_at', type: 'timestamptz' }) startedAt!: Date;
  @Column({ name: 'stopped_at', type: 'timestamptz' }) stoppedAt!: Date;
  @Column({ name: 'billed_seconds' }) billedSeconds!: number;
  @Column({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
}
