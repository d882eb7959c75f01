import { Column, Entity, PrimaryColumn } from 'typeorm';

export type ScheduleState = 'ACTIVE' | 'PAUSED';

@Entity('schedules')
export class ScheduleEntity {
  @PrimaryColumn() name!: string;
  @Column() cron!: string;
  @Column() timezone!: string;
  /** A submit body (POST /api/v1/jobs), stored as validated. */
  @Column({ type: 'jsonb' }) submit!: Record<string, unknown>;
  @Column({ type: 'varchar' }) state!: ScheduleState;
  @Column({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @Column({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
  /** The tick time of the latest recorded firing. */
  @Column({ name: 'last_fired_at', type: 'timestamptz', nullable: true }) lastFiredAt!: Date | null;
  @Column({ name: 'fire_count' }) fireCount!: number;
}
