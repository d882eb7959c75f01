import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { GpuDevice } from '#libs/queue';
import { numericToNumber } from './numeric.transformer.js';

export type WorkerStatus = 'ACTIVE' | 'DRAINING' | 'LOST' | 'LEFT';

@Entity('workers')
export class WorkerEntity {
  @PrimaryColumn() id!: string;
  @Column() pool!: string;
  @Column() hostname!: string;
  @Column({ type: 'numeric', transformer: numericToNumber }) vcpus!: number;
  @Column({ name: 'memory_mib' }) memoryMiB!: number;
  @Column({ type: 'jsonb' }) gpus!: GpuDevice[];
  @Column({ type: 'jsonb' }) labels!: Record<string, string>;
  @Column({ type: 'varchar' }) state!: WorkerStatus;
  @Column({ name: 'registered_at', type: 'timestamptz' }) registeredAt!: Date;
  @Column({ name: 'last_heartbeat_at', type: 'timestamptz' }) lastHeartbeatAt!: Date;
}
