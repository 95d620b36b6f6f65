import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const UNIT = join(import.meta.dirname, '../packaging/l2tpsec.service');

/** systemd.syntax(7): [Section] headers, Key=Value lines, # and ; comments, repeated keys accumulate. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const sec = /^\[([A-Za-z]+)\]$/.exec(line);
    if (sec) {
      if (out.has(sec[1]!)) throw new Error(`line ${i + 1}: section [${sec[1]}] twice`);
      section = new Map();
      out.set(sec[1]!, section);
      return;
    }
    const kv = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(line);
    if (!kv || !section) throw new Error(`line ${i + 1}: not Key=Value inside a section: ${raw}`);
    const list = section.get(kv[1]!) ?? [];
    list.push(kv[2]!);
    section.set(kv[1]!, list);
  });
  return out;
}

const unit = parseUnit(readFileSync(UNIT, 'utf8'));
const svc = unit.get('Service')!;
const one = (k: string): string | undefined => {
  const v = svc.get(k);
  if (v && v.length !== 1) throw new Error(`${k} set ${v.length} times`);
  return v?.[0];
};
const words = (k: string): string[] => (one(k) ?? '').split(/\s+/).filter(Boolean).sort();

describe('packaging/l2tpsec.service', () => {
  it('has Unit, Service and Install sections', () => {
    expect([...unit.keys()]).toEqual(['Unit', 'Service', 'Install']);
    expect(unit.get('Install')!.get('WantedBy')).toEqual(['multi-user.target']);
  });

  it('starts, reloads and restarts the daemon', () => {
    expect(one('ExecStart')).toBe('/usr/bin/env l2tpsec serve --config /etc/l2tpsec/l2tpsec.toml');
    expect(one('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(one('Restart')).toBe('on-failure');
  });

  it('keeps /run/l2tpsec (the forwarding state file) across automatic restarts', () => {
    expect(one('RuntimeDirectory')).toBe('l2tpsec');
    expect(one('RuntimeDirectoryPreserve')).toBe('restart');
  });

  it('grants exactly CAP_NET_ADMIN and CAP_NET_BIND_SERVICE', () => {
    expect(words('AmbientCapabilities')).toEqual(['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE']);
    expect(words('CapabilityBoundingSet')).toEqual(['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE']);
  });

  it('is hardened', () => {
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('ProtectSystem')).toBe('strict');
    expect(words('ReadWritePaths')).toEqual(['/etc/l2tpsec', '/run/l2tpsec']);
    expect(one('ProtectHome')).toBe('yes');
    expect(one('PrivateTmp')).toBe('yes');
    expect(one('DeviceAllow')).toBe('/dev/net/tun rw');
    expect(words('RestrictAddressFamilies')).toEqual(['AF_INET', 'AF_NETLINK', 'AF_UNIX']);
  });

  const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  it.skipIf(analyze.status !== 0)('systemd-analyze verify reports nothing about the unit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'l2tpsec-unit-'));
    try {
      const copy = join(dir, 'l2tpsec.service');
      copyFileSync(UNIT, copy);
      const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', timeout: 30_000 });
      // verify exits 0 even for unparsable directives; it names the file and line on stderr.
      const about = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes(copy));
      expect(about).toEqual([]);
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
