import { describe, expect, it } from 'vitest';
import { formatHistoryLine, humanBytes, humanDuration } from '../../src/cli/format.js';

describe('humanised numbers', () => {
  it('durations', () => {
    expect(humanDuration(0)).toBe('0s');
    expect(humanDuration(59)).toBe('59s');
    expect(humanDuration(61)).toBe('1m 01s');
    expect(humanDuration(3600 + 4 * 60 + 5)).toBe('1h 04m');
    expect(humanDuration(86400 * 2 + 3600 * 3 + 7)).toBe('2d 3h');
  });
  it('bytes', () => {
    expect(humanBytes(0)).toBe('0 B');
    expect(humanBytes(1023)).toBe('1023 B');
    expect(humanBytes(1536)).toBe('1.50 KiB');
    expect(humanBytes(5 * 1024 * 1024)).toBe('5.00 MiB');
    expect(humanBytes(3 * 1024 ** 3)).toBe('3.00 GiB');
  });
  it('history line', () => {
    const line = formatHistoryLine({
      user: 'alice', peer: '198.51.100.7:4500', address: '10.40.0.2', session: 's1',
      start: '2026-11-27T01:02:03.000Z', end: '2026-11-27T02:02:03.000Z', duration: 3600,
      bytesIn: 2048, bytesOut: 100, packetsIn: 3, packetsOut: 1, reason: 'admin disconnect',
    });
    expect(line).toMatch(/^alice\s+198\.51\.100\.7:4500\s+10\.40\.0\.2\s+2026-11-27 01:02:03 \(1h 00m\)\s+in 2\.00 KiB\s+out 100 B\s+admin disconnect$/);
  });
});
