import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity('job_queues')
export class JobQueueEntity {
  @PrimaryColumn() name!: string;
  @Column() priority!: number;
  @Column() state!: 'ENABLED' | 'DISABLED';
  @Column({ type: 'text', array: true }) pools!: string[];
  @Column({ name: 'scheduling_policy', type: 'varchar' }) schedulingPolicy!: 'FIFO' | 'FAIR_SHARE';
  @Column({ name: 'prefer_spot_for_interruptible' }) preferSpotForInterruptible!: boolean;
  @Column({ name: 'preempt_lower_priority' }) allowPreemption!: boolean;
  @Column({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @Column({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}
