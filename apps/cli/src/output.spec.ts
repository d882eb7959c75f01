import { formatAge, formatDuration, render, renderTable, toCsv } from './output.js';

describe('CLI output', () => {
  it('aligns a table squeue-style, cuts long cells but never the last column', () => {
    const text = renderTable([
      { header: 'ID', cell: (r: { id: string; name: string; reason: string }) => r.id },
      { header: 'NAME', cell: (r) => r.name, max: 6 },
      { header: 'REASON', cell: (r) => r.reason },
    ], [{ id: 'a', name: 'short', reason: 'x' }, { id: 'bbb', name: 'much-too-long', reason: 'a very long reason\nwith a break' }]);
    expect(text).toBe('ID   NAME    REASON\na    short   x\nbbb  much-…  a very long reason with a break\n');
  });

  it('renders JSON and YAML from the data, the table only for table', () => {
    const data = [{ a: 1 }];
    expect(render('json', data, () => 'T')).toBe('[\n  {\n    "a": 1\n  }\n]\n');
    expect(render('yaml', data, () => 'T')).toBe('- a: 1\n');
    expect(render('table', data, () => 'T')).toBe('T');
  });

  it('formats ages and durations', () => {
    const now = new Date('2026-12-02T12:00:00Z');
    expect(formatAge('2026-12-02T11:59:18Z', now)).toBe('42s');
    expect(formatAge('2026-12-02T11:55:00Z', now)).toBe('5m');
    expect(formatAge('2026-12-02T09:00:00Z', now)).toBe('3h');
    expect(formatAge('2026-11-30T12:00:00Z', now)).toBe('2d');
    expect(formatAge(null, now)).toBe('-');
    expect(formatDuration(3725)).toBe('1h02m05s');
    expect(formatDuration(65)).toBe('1m05s');
    expect(formatDuration(4)).toBe('4s');
  });

  it('writes RFC 4180 CSV', () => {
    expect(toCsv(['a', 'b'], [['x,y', 'say "hi"'], [null, 1]])).toBe('a,b\r\n"x,y","say ""hi"""\r\n,1\r\n');
  });
});
