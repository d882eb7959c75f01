import { Column, Entity, PrimaryColumn } from 'typeorm';

/** Who jobs are billed to, with an optional monthly budget and GPU quota. */
@Entity('projects')
export class ProjectEntity {
  @PrimaryColumn() name!: string;
  @Column({ name: 'monthly_budget', type: 'numeric', nullable: true }) monthlyBudget!: string | null;
  @Column({ type: 'char' }) currency!: string;
  @Column({ name: 'gpu_quota', type: 'integer', nullable: true }) gpuQuota!: number | null;
  @Column({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @Column({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}
