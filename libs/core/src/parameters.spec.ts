import { substituteParameters } from './parameters.js';

describe('substituteParameters', () => {
  it('takes submit values first, then definition defaults', () => {
    const r = substituteParameters(['train', '--lr', 'Ref::lr', '--epochs=Ref::epochs'], { lr: '0.1' }, { lr: '1', epochs: '5' });
    expect(r).toEqual({ command: ['train', '--lr', '0.1', '--epochs=5'], missing: [] });
  });
  it('reports every reference without a value once', () => {
    expect(substituteParameters(['Ref::a', 'Ref::b', 'Ref::a'], {}).missing).toEqual(['a', 'b']);
  });
  it('does not treat inherited object keys as parameters', () => {
    expect(substituteParameters(['Ref::constructor'], {}).missing).toEqual(['constructor']);
  });
});
