import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { netnsRunner } from '../../src/io/exec.js';
import { NetConfig } from '../../src/io/netcfg.js';
import { nftRules } from '../../src/nat/rules.js';
import { natRuleset } from '../../src/nat/rules.js';
import { createNetns, netnsSkipReason } from './tun-netns.js';

/** Our nftables table applied and removed for real, inside a throwaway namespace. */

const skip = netnsSkipReason(false);

describe.skipIf(skip !== undefined)(`nftables ruleset in a network namespace${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let ns: { name: string; delete(): void } | undefined;
  beforeAll(() => {
    ns = createNetns('l2tpsec-nft');
  });
  afterAll(() => {
    ns?.delete();
  });

  const nft = (...args: string[]): string => execFileSync('ip', ['netns', 'exec', ns!.name, 'nft', ...args], { encoding: 'utf8' });
  const opts = { tunName: 'tun1', pool: '10.40.0.0/24', outInterface: 'eth0', masquerade: true, clientToClient: false, mss: 1360 } as const;

  it('apply twice = one copy; apply a changed ruleset replaces it; remove = gone; remove again is fine', async () => {
    const nc = new NetConfig({ rules: nftRules(), runner: netnsRunner(ns!.name) });
    // Someone else's table must survive everything we do.
    nft('add', 'table', 'inet', 'hostfw');

    await nc.applyRules(natRuleset(opts));
    await nc.applyRules(natRuleset(opts));
    expect(nft('list', 'tables').match(/^table ip l2tpsec$/gm)).toHaveLength(1);
    const listed = nft('list', 'table', 'ip', 'l2tpsec');
    expect(listed.match(/masquerade/g)).toHaveLength(1);
    expect(listed.match(/anti-spoof/g)).toHaveLength(1);
    expect(listed).toMatch(/priority filter - 1;/);
    expect(listed).toMatch(/priority srcnat \+ 10;/);
    expect(await nc.listTables()).toEqual(['l2tpsec']);

    await nc.applyRules(natRuleset({ ...opts, outInterface: 'eth1', clientToClient: true }));
    const changed = nft('list', 'table', 'ip', 'l2tpsec');
    expect(changed).toContain('oifname "eth1"');
    expect(changed).not.toContain('oifname "eth0"');
    expect(changed).not.toContain('client-to-client denied');

    await nc.removeRules();
    expect(nft('list', 'tables')).not.toMatch(/l2tpsec/);
    await nc.removeRules();
    expect(nft('list', 'tables')).toMatch(/^table inet hostfw$/m);
  });

  it('checkHostFirewall names a host forward chain with policy drop', async () => {
    const nc = new NetConfig({ rules: nftRules(), runner: netnsRunner(ns!.name) });
    await nc.applyRules(natRuleset(opts));
    expect(await nc.checkHostFirewall('tun1')).toEqual([]);
    nft('add', 'table', 'inet', 'hostfw2');
    nft('add', 'chain', 'inet', 'hostfw2', 'forward', '{ type filter hook forward priority 0; policy drop; }');
    expect(await nc.checkHostFirewall('tun1')).toEqual(['inet hostfw2 forward']);
    nft('delete', 'table', 'inet', 'hostfw2');
    await nc.removeRules();
  });

  it('a rejected ruleset leaves the previous copy intact (one transaction)', async () => {
    const nc = new NetConfig({ rules: nftRules(), runner: netnsRunner(ns!.name) });
    await nc.applyRules(natRuleset(opts));
    const broken = natRuleset(opts).replace('counter masquerade', 'counter masquerade-typo');
    await expect(nc.applyRules(broken)).rejects.toThrow(/nft -f - failed/);
    expect(nft('list', 'table', 'ip', 'l2tpsec').match(/masquerade/g)).toHaveLength(1);
    await nc.removeRules();
  });
});
