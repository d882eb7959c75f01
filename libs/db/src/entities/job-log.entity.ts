import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity('job_logs')
export class JobLogEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id!: string;
  @Column({ name: 'job_id' }) jobId!: string;
  @Column() attempt!: number;
  @Column() stream!: 'stdout' | 'stderr';
  @Column({ type: 'timestamptz' }) at!: Date;
  @Column({ type: 'text' }) text!: string;
}
