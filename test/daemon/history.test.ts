import { tempDir } from '../tmpdir.js';
import { readFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HistoryFile, parseHistory, type HistoryEntry } from '../../src/daemon/history.js';
import { parseConfig } from '../../src/daemon/config.js';

function entry(i: number, user = 'alice'): HistoryEntry {
  return {
    user,
    peer: '192.0.2.1:4500',
    address: '10.40.0.2',
    session: `s${i}`,
    start: '2026-11-27T01:00:00.000Z',
    end: '2026-11-27T01:01:00.000Z',
    duration: 60,
    bytesIn: i,
    bytesOut: 2 * i,
    packetsIn: 1,
    packetsOut: 2,
    reason: 'peer terminated',
  };
}

describe('HistoryFile', () => {
  it('appends one JSON line per entry and reads them back, filtered by user', () => {
    const f = new HistoryFile(join(tempDir('l2tpsec-h-'), 'sub', 'history.jsonl'));
    f.append(entry(1));
    f.append(entry(2, 'bob'));
    f.append(entry(3));
    const lines = readFileSync(f.path, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[1]!)).toEqual(entry(2, 'bob'));
    expect(f.read({ user: 'alice' }).map((e) => e.session)).toEqual(['s1', 's3']);
    expect(f.read({ limit: 1 }).map((e) => e.session)).toEqual(['s3']);
  });
  it('trims to the newest maxLines lines once past 1.25 × maxLines', () => {
    const f = new HistoryFile(join(tempDir('l2tpsec-h-'), 'history.jsonl'), 8);
    for (let i = 1; i <= 11; i++) f.append(entry(i));
    // 10 = 1.25 × 8 is allowed; the 11th append trims to 8
    const all = f.read();
    expect(all).toHaveLength(8);
    expect(all[0]!.session).toBe('s4');
    expect(all[7]!.session).toBe('s11');
  });
  it('skips torn or foreign lines', () => {
    const dir = tempDir('l2tpsec-h-');
    const p = join(dir, 'history.jsonl');
    appendFileSync(p, JSON.stringify(entry(1)) + '\n{"user": tor\n[1,2]\n' + JSON.stringify(entry(2)) + '\n');
    expect(parseHistory(readFileSync(p, 'utf8')).map((e) => e.session)).toEqual(['s1', 's2']);
  });
  it('config: history_file defaults next to the users file, resolved relative to the config', () => {
    const a = parseConfig('[ipsec]\npsk = "x"\n[ppp]\nusers_file = "/var/lib/l2tpsec/users.toml"\n', '/etc/l2tpsec/l2tpsec.toml');
    expect(a.control.historyFile).toBe('/var/lib/l2tpsec/history.jsonl');
    expect(a.control.socket).toBe('/run/l2tpsec/control.sock');
    expect(a.metrics.listen).toBe('');
    const b = parseConfig('[ipsec]\npsk = "x"\n[control]\nhistory_file = "h.jsonl"\ngroup = "vpnadm"\n[metrics]\nlisten = "127.0.0.1:9810"\n', '/etc/l2tpsec/l2tpsec.toml');
    expect(b.control.historyFile).toBe('/etc/l2tpsec/h.jsonl');
    expect(b.control.group).toBe('vpnadm');
    expect(b.metrics.listen).toBe('127.0.0.1:9810');
    expect(() => parseConfig('[ipsec]\npsk = "x"\n[metrics]\nlisten = "9810"\n', '/etc/x.toml')).toThrow(/x\.toml:4: metrics\.listen/);
    expect(() => parseConfig('[ipsec]\npsk = "x"\n[control]\nbogus = 1\n', '/etc/x.toml')).toThrow(/control\.bogus: unknown key/);
  });
});
