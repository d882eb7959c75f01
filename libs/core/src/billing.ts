import { Decimal as DecimalJs } from 'decimal.js';
import { modelMatches, type GpuModelConstraint } from './gpu-model.js';

/**
 * Billing arithmetic. Money is a decimal string throughout (never a float);
 * costs keep 6 decimal places, as the usage table stores them.
 */
const Decimal = DecimalJs.clone({ precision: 40, rounding: DecimalJs.ROUND_HALF_UP });
const COST_PLACES = 6;
const SECONDS_PER_HOUR = 3600;
const MIB_PER_GIB = 1024;

/** A pool's prices: per vCPU-hour, per GiB-hour of memory, per GPU-hour (by model, with a default). */
export interface PriceCard {
  currency: string;
  vcpuHour: string;
  memoryGiBHour: string;
  gpuHour: string;
  gpuHourByModel: Readonly<Record<string, string>>;
  minimumBilledSeconds: number;
}

/** The rates one attempt is billed at: the card with the GPU price resolved for its GPU model. */
export interface Rates {
  vcpuHour: string;
  memoryGiBHour: string;
  gpuHour: string;
  minimumBilledSeconds: number;
}

export interface BilledResources {
  vcpus: number;
  memoryMiB: number;
  gpus: number;
}

/**
 * Seconds billed for an attempt: the container's real runtime rounded up to
 * the whole second (per-second billing, like AWS), never negative, and at
 * least the pool's minimum once the container ran at all.
 */
export function billedSeconds(startedAt: Date, stoppedAt: Date, minimumSeconds = 0): number {
  const ms = stoppedAt.getTime() - startedAt.getTime();
  return Math.max(ms <= 0 ? 0 : Math.ceil(ms / 1000), minimumSeconds);
}

/**
 * The GPU-hour price for a GPU model: the card's price for that model (named
 * as a GPU model constraint is, so `A100` prices `NVIDIA A100-SXM4-80GB`),
 * else its default. An exact name wins over a word match.
 */
export function gpuHourPrice(card: PriceCard, model: string | null | undefined): string {
  if (!model) return card.gpuHour;
  const entries = Object.entries(card.gpuHourByModel);
  const exact = entries.find(([name]) => name.toLowerCase() === model.toLowerCase());
  if (exact) return exact[1];
  const byWord = entries.find(([name]) => modelMatches([name.toLowerCase()], model));
  return byWord ? byWord[1] : card.gpuHour;
}

export function ratesFor(card: PriceCard, gpuModel: string | null | undefined): Rates {
  return {
    vcpuHour: card.vcpuHour, memoryGiBHour: card.memoryGiBHour, gpuHour: gpuHourPrice(card, gpuModel),
    minimumBilledSeconds: card.minimumBilledSeconds,
  };
}

/** Cost of holding `resources` for `seconds` at `rates`, rounded half up to 6 places. */
export function cost(rates: Omit<Rates, 'minimumBilledSeconds'>, resources: BilledResources, seconds: number): string {
  const perHour = new Decimal(rates.vcpuHour).times(resources.vcpus)
    .plus(new Decimal(rates.memoryGiBHour).times(resources.memoryMiB).dividedBy(MIB_PER_GIB))
    .plus(new Decimal(rates.gpuHour).times(resources.gpus));
  return perHour.times(seconds).dividedBy(SECONDS_PER_HOUR).toFixed(COST_PLACES);
}

/** Exact sum of decimal strings. */
export function sumMoney(amounts: readonly string[]): string {
  return amounts.reduce((total, a) => total.plus(a), new Decimal(0)).toFixed(COST_PLACES);
}

/** -1, 0 or 1, as `a` is below, equal to or above `b`. */
export function compareMoney(a: string, b: string): number {
  return new Decimal(a).comparedTo(b);
}

/** "1,002.40 USD": rounded to the cent, for reasons a person reads. */
export function formatMoney(amount: string, currency: string): string {
  const [whole, cents] = new Decimal(amount).toFixed(2).split('.');
  return `${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${cents} ${currency}`;
}

/** The calendar month (UTC) a time falls in: `2026-11`, and when it began. Budgets and reports count usage by month. */
export function billingMonth(now: Date): { month: string; start: Date } {
  const month = now.toISOString().slice(0, 7);
  return { month, start: new Date(`${month}-01T00:00:00.000Z`) };
}

export interface PricedPool {
  name: string;
  card: PriceCard;
}

export interface CostEstimate {
  pool: string;
  currency: string;
  /** Most one attempt can cost: it runs until its timeout. */
  perAttempt: string;
  /** Every attempt runs until its timeout. */
  total: string;
}

/**
 * The most a job can cost if it runs in the cheapest of `pools`: every
 * attempt runs to its timeout (or the pool's minimum) on the dearest GPU
 * model it allows there. Undefined without a timeout or a priced pool.
 */
export function estimateMaxCost(
  job: BilledResources & { gpuModel?: GpuModelConstraint; timeoutSeconds: number | null; maxAttempts: number },
  pools: readonly PricedPool[],
): CostEstimate | undefined {
  if (job.timeoutSeconds === null) return undefined;
  let best: { pool: PricedPool; perAttempt: InstanceType<typeof Decimal> } | undefined;
  for (const pool of pools) {
    const gpuHour = job.gpus === 0 ? '0' : dearestGpuPrice(pool.card, job.gpuModel);
    const seconds = Math.max(job.timeoutSeconds, pool.card.minimumBilledSeconds);
    const perAttempt = new Decimal(cost({ ...pool.card, gpuHour }, job, seconds));
    if (!best || perAttempt.lessThan(best.perAttempt)) best = { pool, perAttempt };
  }
  if (!best) return undefined;
  return {
    pool: best.pool.name, currency: best.pool.card.currency, perAttempt: best.perAttempt.toFixed(COST_PLACES),
    total: best.perAttempt.times(job.maxAttempts).toFixed(COST_PLACES),
  };
}

/** The highest GPU-hour price the constraint allows on this card (any model when there is none). */
function dearestGpuPrice(card: PriceCard, constraint: GpuModelConstraint | undefined): string {
  const named = Object.entries(card.gpuHourByModel);
  const candidates = constraint?.length
    ? constraint.map((model) => gpuHourPrice(card, model))
    : [card.gpuHour, ...named.map(([, price]) => price)];
  return candidates.reduce((max, p) => (new Decimal(p).greaterThan(max) ? p : max));
}

// Up to 9 digits before the point (a billion an hour is no real price) and 6 after.
const PRICE = /^\d{1,9}(\.\d{1,6})?$/;

/** A price as sent by a user (a JSON number or a decimal string), or undefined when it is not a non-negative decimal. */
export function parsePrice(value: unknown): string | undefined {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return undefined;
    value = String(value);
  }
  if (typeof value !== 'string' || !PRICE.test(value)) return undefined;
  return new Decimal(value).toFixed(COST_PLACES);
}

const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

/** An ISO 4217 code this runtime knows, such as USD or EUR. */
export function isCurrencyCode(code: string): boolean {
  return CURRENCIES.has(code);
}
