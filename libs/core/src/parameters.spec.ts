import { substituteParameters } from './parameters.js';

describe('substituteParameters', () => {
  it('takes submit values first, then definition defaults', () => {
    const r = substituteParameters(['train', '--lr', 'Ref::lr', '--epochs=Ref::epochs'], { lr: '0.1' }, { lr: '1', epochs: '5' });
    expect(r).toEqual({ command: ['train', '--lr', '0.1', '--epochs=5'], missing: [], tooLong: false });
  });
  it('reports every reference without a value once', () => {
    expect(substituteParameters(['Ref::a', 'Ref::b', 'Ref::a'], {}).missing).toEqual(['a', 'b']);
  });
  it('stops expanding past the limit instead of building a huge command', () => {
    const r = substituteParameters(Array(7).fill('Ref::a '.repeat(4600)), { a: 'x'.repeat(32_768) });
    expect(r.tooLong).toBe(true);
    expect(r.command.reduce((n, a) => n + a.length, 0)).toBeLessThan(1_000_000);
  });

  it('does not treat inherited object keys as parameters', () => {
    expect(substituteParameters(['Ref::constructor'], {}).missing).toEqual(['constructor']);
  });
});
