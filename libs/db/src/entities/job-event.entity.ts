import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity('job_events')
export class JobEventEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id!: string;
  @Column({ name: 'job_id' }) jobId!: string;
  @Column({ type: 'timestamptz' }) at!: Date;
  @Column({ name: 'from_status', type: 'varchar', nullable: true }) fromStatus!: string | null;
  @Column({ name: 'to_status' }) toStatus!: string;
  @Column({ type: 'text', nullable: true }) reason!: string | null;
}
