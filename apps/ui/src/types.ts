// The shapes of the REST API replies the dashboard reads (Swagger at /docs has them all).
export interface JobSummary {
  jobId: string; name: string; queue: string; status: string; statusReason: string | null; priority: number;
  createdAt: string; startedAt: string | null; stoppedAt: string | null;
  /** An attempt held GPUs it left idle (under 5% busy on average); known once an attempt ends. */
  gpuIdle: boolean;
}
export interface JobList { jobs: JobSummary[]; nextCursor: string | null }
export interface Attempt {
  attempt: number; status: string; workerId: string; pool: string; gpuDevices: number[]; containerId: string | null;
  startedAt: string | null; stoppedAt: string | null; exitCode: number | null; reason: string | null;
  cost: { amount: string; currency: string; billedSeconds: number; running: boolean; gpuModel: string | null } | null;
  /** null until the attempt ends, and where its worker sampled nothing. */
  gpuUtilization: GpuUtilization | null;
}
export interface GpuUtilization {
  samples: number; avgPercent: number; peakPercent: number; avgMemoryMiB: number; peakMemoryMiB: number; idleFraction: number; idle: boolean;
}
export interface JobDetail extends JobSummary {
  definition: string; image: string; command: string[]; project: string; tags: Record<string, string>;
  resources: { vcpus: number; memoryMiB: number; gpus: number; gpuModel: string | null };
  timeoutSeconds: number | null; dependsOn: { jobId: string }[];
  arrayProperties: { size: number; statusSummary: Record<string, number> } | { parentId: string; index: number } | null;
  cost: Record<string, string>; costFinal: boolean; attempts: Attempt[];
  events: { at: string; from: string | null; to: string; reason: string | null }[];
}
export interface LogLine { stream: string; at: string; text: string }
export interface Gpu { index: number; model: string; memoryMiB: number; uuid: string | null; nvlinkGroup: number | null; jobId: string | null; queue: string | null }
export interface Worker {
  workerId: string; pool: string; hostname: string; state: string; labels: Record<string, string>;
  capacity: { vcpus: number; memoryMiB: number; gpus: number }; allocated: { vcpus: number; memoryMiB: number; gpus: number };
  gpus: Gpu[]; runningJobs: number; registeredAt: string; lastHeartbeatAt: string;
}
export interface Overview {
  generatedAt: string; finishedWindowHours: number; rateWindowMinutes: number;
  queues: { queue: string; counts: Record<string, number> }[];
  gpus: { pool: string; model: string; total: number; allocated: number }[];
  perMinute: { minute: string; submits: number; starts: number }[];
}
export interface UsageRow {
  currency: string; attempts: number; gpuHours: number; idleGpuHours: number; vcpuHours: number; memoryGiBHours: number; cost: string; includesRunning: boolean;
  [group: string]: unknown;
}
export interface UsageReport { from: string; to: string; groupBy: string[]; rows: UsageRow[]; totals: UsageRow[] }
export interface Schedule {
  name: string; cron: string; timezone: string; submit: Record<string, unknown>; state: string;
  nextRunAt: string | null; lastFiredAt: string | null; fireCount: number; createdAt: string;
}
export interface Queue { name: string; priority: number; state: string }
