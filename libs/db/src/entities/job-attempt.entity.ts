import { Column, Entity, PrimaryColumn } from 'typeorm';
import { numericToNumber } from './numeric.transformer.js';

@Entity('job_attempts')
export class JobAttemptEntity {
  @PrimaryColumn({ name: 'job_id' }) jobId!: string;
  @PrimaryColumn() attempt!: number;
  @Column({ name: 'worker_id' }) workerId!: string;
  @Column() pool!: string;
  @Column({ name: 'gpu_devices', type: 'integer', array: true }) gpuDevices!: number[];
  @Column({ name: 'gpu_model', type: 'text', nullable: true }) gpuModel!: string | null;
  @Column({ type: 'numeric', transformer: numericToNumber }) vcpus!: number;
  @Column({ name: 'memory_mib' }) memoryMiB!: number;
  @Column() status!: string;
  @Column({ name: 'container_id', type: 'varchar', nullable: true }) containerId!: string | null;
  @Column({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @Column({ name: 'started_at', type: 'timestamptz', nullable: true }) startedAt!: Date | null;
  @Column({ name: 'stopped_at', type: 'timestamptz', nullable: true }) stoppedAt!: Date | null;
  @Column({ name: 'exit_code', type: 'integer', nullable: true }) exitCode!: number | null;
  @Column({ type: 'text', nullable: true }) reason!: string | null;
}
