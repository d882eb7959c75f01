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
  /** GPU utilisation its worker sampled; null when it was not sampled (no nvidia-smi, no GPUs). */
  @Column({ name: 'gpu_util_samples', type: 'integer', nullable: true }) gpuUtilSamples!: number | null;
  @Column({ name: 'gpu_util_avg', type: 'double precision', nullable: true }) gpuUtilAvg!: number | null;
  @Column({ name: 'gpu_util_peak', type: 'double precision', nullable: true }) gpuUtilPeak!: number | null;
  @Column({ name: 'gpu_memory_avg_mib', type: 'double precision', nullable: true }) gpuMemoryAvgMiB!: number | null;
  @Column({ name: 'gpu_memory_peak_mib', type: 'double precision', nullable: true }) gpuMemoryPeakMiB!: number | null;
  @Column({ name: 'gpu_idle_fraction', type: 'double precision', nullable: true }) gpuIdleFraction!: number | null;
}
