import fc from 'fast-check';
import {
  billedSeconds, billingMonth, compareMoney, cost, estimateMaxCost, formatMoney, gpuHourPrice, isCurrencyCode, parsePrice, ratesFor, sumMoney,
  type PriceCard,
} from './billing.js';
import { parseGpuModel } from './gpu-model.js';

const card: PriceCard = {
  currency: 'USD', vcpuHour: '0.040000', memoryGiBHour: '0.005000', gpuHour: '2.000000',
  gpuHourByModel: { A100: '3.600000', 'H100-SXM': '7.200000' }, minimumBilledSeconds: 0,
};

describe('billedSeconds', () => {
  const t0 = new Date('2026-11-21T10:00:00.000Z');
  it('rounds the real runtime up to the whole second', () => {
    expect(billedSeconds(t0, new Date(t0.getTime() + 1))).toBe(1);
    expect(billedSeconds(t0, new Date(t0.getTime() + 1000))).toBe(1);
    expect(billedSeconds(t0, new Date(t0.getTime() + 61_500))).toBe(62);
  });
  it('bills nothing for no runtime or clocks that went backwards', () => {
    expect(billedSeconds(t0, t0)).toBe(0);
    expect(billedSeconds(t0, new Date(t0.getTime() - 5000))).toBe(0);
  });
  it('bills at least the pool minimum', () => {
    expect(billedSeconds(t0, new Date(t0.getTime() + 5000), 60)).toBe(60);
    expect(billedSeconds(t0, new Date(t0.getTime() + 90_000), 60)).toBe(90);
  });
});

describe('prices', () => {
  it('prices a GPU by its model, by word as gpuModel matches, else the default', () => {
    expect(gpuHourPrice(card, 'NVIDIA A100-SXM4-80GB')).toBe('3.600000');
    expect(gpuHourPrice(card, 'h100-sxm')).toBe('7.200000');
    expect(gpuHourPrice(card, 'Tesla T4')).toBe('2.000000');
    expect(gpuHourPrice(card, null)).toBe('2.000000');
    expect(ratesFor(card, 'A100')).toEqual({ vcpuHour: '0.040000', memoryGiBHour: '0.005000', gpuHour: '3.600000', minimumBilledSeconds: 0 });
  });

  it('costs resources × seconds × rates exactly, rounded half up to 6 places', () => {
    // 2 vCPU, 2 GiB, 1 A100 for 101 s: 101/3600 × (0.08 + 0.01 + 3.6) = 0.103525
    expect(cost(ratesFor(card, 'A100'), { vcpus: 2, memoryMiB: 2048, gpus: 1 }, 101)).toBe('0.103525');
    expect(cost(ratesFor(card, null), { vcpus: 0.5, memoryMiB: 512, gpus: 0 }, 1)).toBe('0.000006');
    // A float sum would give 0.30000000000000004.
    expect(sumMoney(['0.100000', '0.200000'])).toBe('0.300000');
  });

  it('sums exactly whatever the amounts (property)', () => {
    fc.assert(fc.property(fc.array(fc.bigInt({ min: 0n, max: 10n ** 15n }), { maxLength: 50 }), (micros) => {
      const asMoney = (m: bigint) => `${m / 1_000_000n}.${String(m % 1_000_000n).padStart(6, '0')}`;
      expect(sumMoney(micros.map(asMoney))).toBe(asMoney(micros.reduce((a, b) => a + b, 0n)));
    }));
  });

  it('formats money for people and compares decimals', () => {
    expect(formatMoney('1002.4', 'USD')).toBe('1,002.40 USD');
    expect(formatMoney('0.004999', 'EUR')).toBe('0.00 EUR');
    expect(compareMoney('1000.000001', '1000')).toBe(1);
    expect(compareMoney('999.99', '1000')).toBe(-1);
  });

  it('accepts non-negative decimals of at most 6 places and rejects the rest', () => {
    expect(parsePrice('2.50')).toBe('2.500000');
    expect(parsePrice(0.1)).toBe('0.100000');
    expect(parsePrice(0)).toBe('0.000000');
    expect(parsePrice('999999999.999999')).toBe('999999999.999999');
    for (const bad of [-1, '-0.5', '1e3', 'abc', '', '1.1234567', Number.NaN, Infinity, null, {}, '1000000000', 1e21]) {
      expect(parsePrice(bad)).toBeUndefined();
    }
  });

  it('knows ISO 4217 currency codes', () => {
    expect(isCurrencyCode('USD')).toBe(true);
    expect(isCurrencyCode('EUR')).toBe(true);
    expect(isCurrencyCode('XYZ')).toBe(false);
    expect(isCurrencyCode('usd')).toBe(false);
  });
});

describe('estimateMaxCost', () => {
  const spot: PriceCard = { ...card, vcpuHour: '0.010000', gpuHourByModel: { A100: '1.200000' }, gpuHour: '1.000000', minimumBilledSeconds: 60 };
  const job = { vcpus: 2, memoryMiB: 2048, gpus: 1, timeoutSeconds: 3600, maxAttempts: 2 };

  it('assumes the cheapest pool, the dearest GPU model it allows there and every attempt running to its timeout', () => {
    const estimate = estimateMaxCost({ ...job, gpuModel: parseGpuModel('A100') }, [{ name: 'od', card }, { name: 'spot', card: spot }]);
    // spot: 0.02 + 0.01 + 1.2 = 1.23 per hour
    expect(estimate).toEqual({ pool: 'spot', currency: 'USD', perAttempt: '1.230000', total: '2.460000' });
    // No model asked for: the dearest the card names (7.20 in od, 1.20 in spot).
    expect(estimateMaxCost(job, [{ name: 'od', card }])?.perAttempt).toBe('7.290000');
  });

  it('bills a timeout shorter than the minimum at the minimum', () => {
    expect(estimateMaxCost({ ...job, gpus: 0, timeoutSeconds: 1, maxAttempts: 1 }, [{ name: 'spot', card: spot }])?.perAttempt)
      .toBe(cost(spot, { vcpus: 2, memoryMiB: 2048, gpus: 0 }, 60));
  });

  it('has no estimate without a timeout or a priced pool', () => {
    expect(estimateMaxCost({ ...job, timeoutSeconds: null }, [{ name: 'od', card }])).toBeUndefined();
    expect(estimateMaxCost(job, [])).toBeUndefined();
  });
});

describe('billingMonth', () => {
  it('names the UTC month and its first instant', () => {
    expect(billingMonth(new Date('2026-11-30T23:59:59.999Z'))).toEqual({ month: '2026-11', start: new Date('2026-11-01T00:00:00.000Z') });
    expect(billingMonth(new Date('2026-12-01T00:00:00.000Z')).month).toBe('2026-12');
  });
});
