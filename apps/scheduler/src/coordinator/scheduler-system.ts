/**
 * One concern of the leader (liveness, intake, placement, ...), run by the
 * coordinator each pass. A system keeps its own cadence: a pass where it is
 * not due returns at once.
 */
export interface SchedulerSystem {
  readonly name: string;
  /** Stops the pass when this system fails: what follows would run on stale inputs. */
  readonly essential?: boolean;
  /** Does what is due at `now` (the scheduler's clock); true when placement may now decide differently. */
  run(now: number): Promise<boolean>;
}
