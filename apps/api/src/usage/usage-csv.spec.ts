import { neutralizeCsvCell, toCsv } from './usage-report.js';

describe('usage CSV', () => {
  it('neutralises cells a spreadsheet would run as formulas', () => {
    expect(neutralizeCsvCell('=HYPERLINK("http://x")')).toBe('\'=HYPERLINK("http://x")');
    expect(neutralizeCsvCell('+1+1')).toBe("'+1+1");
    expect(neutralizeCsvCell('-2+3')).toBe("'-2+3");
    expect(neutralizeCsvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(neutralizeCsvCell('\tx')).toBe("'\tx");
    expect(neutralizeCsvCell('-1.50')).toBe('-1.50');
    expect(neutralizeCsvCell('vision')).toBe('vision');
    expect(toCsv(['project', 'cost'], [['=cmd|x', '1.00']])).toBe("project,cost\r\n'=cmd|x,1.00\r\n");
    expect(toCsv(['project'], [['=a,b']])).toBe(`project\r\n"'=a,b"\r\n`);
  });
});
