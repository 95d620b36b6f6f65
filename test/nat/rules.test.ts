import { describe, expect, it } from 'vitest';
import { FORWARD_PRIORITY, mssForMtu, natRemoval, natRuleset, POSTROUTING_PRIORITY } from '../../src/nat/rules.js';

const base = { tunName: 'tun1', pool: '10.40.0.0/24', outInterface: 'eth0', masquerade: true, clientToClient: false, mss: 1360 } as const;

function ruleLines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter(Boolean);
}

describe('natRuleset', () => {
  const text = natRuleset(base);
  const lines = ruleLines(text);

  it('is one idempotent transaction: create-if-missing, delete, recreate our own table', () => {
    expect(lines.slice(0, 3)).toEqual(['table ip l2tpsec', 'delete table ip l2tpsec', 'table ip l2tpsec {']);
    expect(text.match(/^table ip /gm)).toHaveLength(2);
    expect(text).not.toMatch(/flush ruleset|table inet filter|table ip filter|table ip nat\b/);
  });

  it('masquerades the pool out of the external interface only', () => {
    expect(lines).toContain('oifname "eth0" ip saddr 10.40.0.0/24 counter masquerade');
    expect(lines.filter((l) => l.includes('masquerade'))).toHaveLength(1);
    expect(lines).toContain(`type nat hook postrouting priority ${POSTROUTING_PRIORITY}; policy accept;`);
  });

  it('drops sources outside the pool coming from the TUN (anti-spoofing) and client-to-client by default', () => {
    expect(lines.some((l) => l.startsWith('iifname "tun1" ip saddr != 10.40.0.0/24') && l.includes(' drop'))).toBe(true);
    expect(lines.some((l) => l.startsWith('iifname "tun1" oifname "tun1"') && l.includes(' drop'))).toBe(true);
  });

  it('forward chain: policy accept, established/related back to the pool, then TUN-sourced traffic, else drop new to clients', () => {
    expect(lines).toContain(`type filter hook forward priority ${FORWARD_PRIORITY}; policy accept;`);
    const est = lines.indexOf('oifname "tun1" ip daddr 10.40.0.0/24 ct state established,related accept');
    const out = lines.indexOf('iifname "tun1" accept');
    const spoof = lines.findIndex((l) => l.startsWith('iifname "tun1" ip saddr !='));
    const unsolicited = lines.findIndex((l) => l.startsWith('oifname "tun1" counter drop'));
    expect(est).toBeGreaterThan(0);
    expect(spoof).toBeGreaterThan(0);
    expect(spoof).toBeLessThan(out);
    expect(est).toBeLessThan(unsolicited);
    // every forward rule names our TUN, so traffic that is not ours is never touched
    const fwd = lines.slice(lines.indexOf('chain forward {') + 2, lines.indexOf('}'));
    for (const l of fwd) expect(l).toMatch(/(iifname|oifname) "tun1"/);
  });

  it('clamps MSS on SYNs in both directions to a fixed value, or rt mtu', () => {
    expect(lines.filter((l) => l.includes('tcp option maxseg size set 1360'))).toHaveLength(2);
    const rt = ruleLines(natRuleset({ ...base, mss: 'rt-mtu' }));
    expect(rt.filter((l) => l.endsWith('tcp option maxseg size set rt mtu'))).toHaveLength(2);
    expect(mssForMtu(1400)).toBe(1360);
    expect(() => natRuleset({ ...base, mss: 100 })).toThrow(RangeError);
  });

  it('client_to_client = true accepts pool-to-pool instead of dropping', () => {
    const l = ruleLines(natRuleset({ ...base, clientToClient: true }));
    const c2c = l.filter((x) => x.startsWith('iifname "tun1" oifname "tun1"'));
    expect(c2c).toHaveLength(1);
    expect(c2c[0]).toMatch(/ip saddr 10\.40\.0\.0\/24 ip daddr 10\.40\.0\.0\/24 accept/);
  });

  it('masquerade = false has no nat chain and needs no out interface', () => {
    const t = natRuleset({ tunName: 'tun1', pool: '10.40.0.0/24', masquerade: false, clientToClient: false, mss: 1360 });
    expect(t).not.toMatch(/postrouting|masquerade/);
    expect(() => natRuleset({ ...base, outInterface: undefined })).toThrow(/outInterface/);
  });

  it('normalises the pool and uses a custom table name', () => {
    const t = natRuleset({ ...base, table: 'vpn2', pool: '172.16.8.0/22' });
    expect(t.startsWith('table ip vpn2\ndelete table ip vpn2\ntable ip vpn2 {\n')).toBe(true);
    expect(t).toContain('ip saddr 172.16.8.0/22 counter masquerade');
  });

  it('refuses names that could inject nft syntax', () => {
    expect(() => natRuleset({ ...base, tunName: 'tun1" accept #' })).toThrow(RangeError);
    expect(() => natRuleset({ ...base, outInterface: 'eth0;flush ruleset' })).toThrow(RangeError);
    expect(() => natRuleset({ ...base, table: 'x y' })).toThrow(RangeError);
    expect(() => natRuleset({ ...base, pool: '10.40.0.1/24' })).toThrow(RangeError);
  });
});

describe('natRemoval', () => {
  it('deletes our table whether or not it exists', () => {
    expect(natRemoval()).toBe('table ip l2tpsec\ndelete table ip l2tpsec\n');
    expect(natRemoval('vpn2')).toBe('table ip vpn2\ndelete table ip vpn2\n');
  });
});
