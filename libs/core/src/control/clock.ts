/** Where the scheduler's systems read the time: injected, so decisions can be tested with a fake one. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

/** The machine's wall clock. */
export const systemClock: Clock = { now: () => Date.now() };
