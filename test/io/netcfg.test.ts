import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LogEvent } from '../../src/core/log.js';
import type { Runner } from '../../src/io/exec.js';
import { defaultForwardingStateFile, foreignForwardDropChains, NetConfig, parseDefaultRouteInterface } from '../../src/io/netcfg.js';
import { nftRules } from '../../src/nat/rules.js';

describe('parseDefaultRouteInterface', () => {
  it('picks the unicast default route with the lowest metric', () => {
    const json = JSON.stringify([
      { dst: 'default', gateway: '192.0.2.1', dev: 'wlan0', protocol: 'dhcp', metric: 600, flags: [] },
      { type: 'blackhole', dst: 'default', metric: 1, flags: [] },
      { dst: 'default', gateway: '198.51.100.1', dev: 'eth0', protocol: 'dhcp', metric: 100, flags: [] },
    ]);
    expect(parseDefaultRouteInterface(json)).toBe('eth0');
  });
  it('treats a missing metric as 0', () => {
    expect(parseDefaultRouteInterface('[{"dst":"default","dev":"ens3","metric":5},{"dst":"default","dev":"ens4"}]')).toBe('ens4');
  });
  it('returns undefined for no routes or unexpected output', () => {
    expect(parseDefaultRouteInterface('[]')).toBeUndefined();
    expect(parseDefaultRouteInterface('')).toBeUndefined();
    expect(parseDefaultRouteInterface('{"dev":"eth0"}')).toBeUndefined();
    expect(parseDefaultRouteInterface('[null, 3, {"dev": 7}]')).toBeUndefined();
  });
});

describe('foreignForwardDropChains', () => {
  const chains = (list: object[]): string => JSON.stringify({ nftables: [{ metainfo: { version: '1.0.6' } }, ...list.map((chain) => ({ chain }))] });
  it('names forward-hook chains with policy drop in other ip/inet tables', () => {
    const json = chains([
      { family: 'inet', table: 'filter', name: 'forward', hook: 'forward', prio: 0, policy: 'drop', type: 'filter' },
      { family: 'inet', table: 'filter', name: 'input', hook: 'input', prio: 0, policy: 'drop', type: 'filter' },
      { family: 'ip', table: 'fw', name: 'fwd', hook: 'forward', prio: 10, policy: 'accept', type: 'filter' },
      { family: 'ip', table: 'l2tpsec', name: 'forward', hook: 'forward', prio: -1, policy: 'drop', type: 'filter' },
      { family: 'ip6', table: 'f6', name: 'forward', hook: 'forward', prio: 0, policy: 'drop', type: 'filter' },
      { family: 'ip', table: 'other', name: 'FORWARD', hook: 'forward', prio: 0, policy: 'drop', type: 'filter' },
      { family: 'inet', table: 'filter', name: 'regular' },
    ]);
    expect(foreignForwardDropChains(json, 'l2tpsec')).toEqual(['inet filter forward', 'ip other FORWARD']);
  });
  it('is empty on unexpected output', () => {
    expect(foreignForwardDropChains('nope', 'l2tpsec')).toEqual([]);
    expect(foreignForwardDropChains('{"nftables": 3}', 'l2tpsec')).toEqual([]);
    expect(foreignForwardDropChains('null', 'l2tpsec')).toEqual([]);
    expect(foreignForwardDropChains('{"nftables": [null, 1, {"chain": null}]}', 'l2tpsec')).toEqual([]);
  });
});

describe('NetConfig with a recording runner', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  const dropChain = '{"nftables":[{"chain":{"family":"inet","table":"filter","name":"forward","hook":"forward","policy":"drop"}}]}';
  function setup(forwarding: string, routes = '[{"dst":"default","gateway":"192.0.2.1","dev":"uplink0"}]', hostChains = '{"nftables":[]}') {
    dir = mkdtempSync(join(tmpdir(), 'l2tpsec-netcfg-'));
    const ipf = join(dir, 'ip_forward');
    writeFileSync(ipf, `${forwarding}\n`);
    const calls: Array<{ argv: string[]; input: string | undefined }> = [];
    const runner: Runner = async (file, args, input) => {
      calls.push({ argv: [file, ...args], input });
      if (file === 'ip' && args[0] === '-j') return { stdout: routes, stderr: '' };
      if (file === 'nft' && args[0] === '-j') return { stdout: hostChains, stderr: '' };
      return { stdout: '', stderr: '' };
    };
    const logs: LogEvent[] = [];
    const nc = new NetConfig({ rules: nftRules(), runner, ipForwardPath: ipf, log: (e) => logs.push(e) });
    return { nc, calls, logs, ipf };
  }

  it('bringUp: address + MTU + up, forwarding on, auto out interface, ruleset via nft -f -; tearDown undoes it', async () => {
    const { nc, calls, ipf, logs } = setup('0');
    const r = await nc.bringUp({ tunName: 'tun1', pool: '10.40.0.0/24', mtu: 1400, masquerade: true, outInterface: 'auto', clientToClient: false });
    expect(r.outInterface).toBe('uplink0');
    expect(calls.map((c) => c.argv)).toEqual([
      ['ip', 'link', 'set', 'dev', 'tun1', 'addrgenmode', 'none'],
      ['ip', 'address', 'replace', '10.40.0.1/24', 'dev', 'tun1'],
      ['ip', 'link', 'set', 'dev', 'tun1', 'mtu', '1400', 'up'],
      ['ip', '-j', 'route', 'show', 'default'],
      ['nft', '-f', '-'],
      ['nft', '-j', 'list', 'chains'],
    ]);
    expect(r.hostForwardDrop).toEqual([]);
    expect(calls[4]!.input).toBe(r.ruleset);
    expect(r.ruleset).toContain('oifname "uplink0" ip saddr 10.40.0.0/24 counter masquerade');
    expect(r.ruleset).toContain('tcp option maxseg size set 1360');
    expect(readFileSync(ipf, 'utf8').trim()).toBe('1');
    await nc.tearDown();
    expect(calls[6]).toEqual({ argv: ['nft', '-f', '-'], input: 'table ip l2tpsec\ndelete table ip l2tpsec\n' });
    expect(readFileSync(ipf, 'utf8').trim()).toBe('0');
    expect(logs.map((l) => l.event)).toEqual(['netcfg.tun.up', 'netcfg.forwarding.enabled', 'netcfg.nft.applied', 'netcfg.nft.removed', 'netcfg.forwarding.restored']);
  });

  it('warns when a host chain drops forwarded traffic by default', async () => {
    const { nc, logs } = setup('1', undefined, dropChain);
    const r = await nc.bringUp({ tunName: 'tun1', pool: '10.40.0.0/24', mtu: 1400, masquerade: false, outInterface: 'auto', clientToClient: false });
    expect(r.hostForwardDrop).toEqual(['inet filter forward']);
    const warn = logs.find((l) => l.event === 'netcfg.hostfw.forward_drop');
    expect(warn).toMatchObject({ level: 'warn', fields: { chains: ['inet filter forward'] } });
    expect(String(warn?.fields?.hint)).toContain('tun1');
  });

  it('leaves forwarding alone on teardown when it was already on', async () => {
    const { nc, ipf } = setup('1');
    await nc.enableForwarding();
    writeFileSync(ipf, '1\n');
    await nc.restoreForwarding();
    expect(readFileSync(ipf, 'utf8').trim()).toBe('1');
  });

  it('an explicit out interface needs no route lookup; no default route with "auto" is a clear error', async () => {
    const a = setup('1');
    await a.nc.bringUp({ tunName: 't0', pool: '10.9.0.0/24', mtu: 1300, masquerade: true, outInterface: 'eth9', clientToClient: true, forwarding: false });
    expect(a.calls.map((c) => c.argv[0] + ' ' + c.argv[1])).toEqual(['ip link', 'ip address', 'ip link', 'nft -f', 'nft -j']);
    rmSync(dir, { recursive: true, force: true });
    const b = setup('1', '[]');
    await expect(b.nc.bringUp({ tunName: 't0', pool: '10.9.0.0/24', mtu: 1300, masquerade: true, outInterface: 'auto', clientToClient: false })).rejects.toThrow(
      /no default route.*nat\.out_interface/,
    );
  });

  it('after a kill -9 the next run restores what forwarding was before the first (state file written before the change)', async () => {
    const { ipf } = setup('0');
    const state = join(dir, 'run', 'ip_forward-1');
    const first = new NetConfig({ rules: nftRules(), runner: async () => ({ stdout: '', stderr: '' }), ipForwardPath: ipf, forwardingStateFile: state });
    await first.enableForwarding();
    expect(readFileSync(ipf, 'utf8').trim()).toBe('1');
    expect(readFileSync(state, 'utf8').trim()).toBe('0');
    // first is killed: no restore. The next run finds forwarding on and the state file.
    const logs: LogEvent[] = [];
    const second = new NetConfig({ rules: nftRules(), runner: async () => ({ stdout: '', stderr: '' }), ipForwardPath: ipf, forwardingStateFile: state, log: (e) => logs.push(e) });
    await second.enableForwarding();
    expect(logs.map((l) => l.event)).toEqual(['netcfg.forwarding.recovered']);
    await second.restoreForwarding();
    expect(readFileSync(ipf, 'utf8').trim()).toBe('0');
    expect(existsSync(state)).toBe(false);
  });

  it('without a state file, forwarding that was on stays on; a clean stop removes the file; tearDownSync too', async () => {
    const { ipf } = setup('1');
    const state = join(dir, 'ip_forward-2');
    const a = new NetConfig({ rules: nftRules(), runner: async () => ({ stdout: '', stderr: '' }), ipForwardPath: ipf, forwardingStateFile: state });
    await a.enableForwarding();
    expect(existsSync(state)).toBe(false);
    await a.restoreForwarding();
    expect(readFileSync(ipf, 'utf8').trim()).toBe('1');
    writeFileSync(ipf, '0\n');
    const b = new NetConfig({ rules: nftRules(), runner: async () => ({ stdout: '', stderr: '' }), ipForwardPath: ipf, forwardingStateFile: state });
    await b.enableForwarding();
    expect(readFileSync(state, 'utf8').trim()).toBe('0');
    b.tearDownSync();
    expect(readFileSync(ipf, 'utf8').trim()).toBe('0');
    expect(existsSync(state)).toBe(false);
  });

  it('the default state file is per network namespace under /run/l2tpsec; none for a test sysctl path', () => {
    expect(defaultForwardingStateFile()).toMatch(/^\/run\/l2tpsec\/ip_forward-\d+$/);
    const { nc } = setup('0');
    expect(nc.forwardingStateFile).toBeUndefined();
  });
});
