import { describe, expect, it } from 'vitest';
import { diagnose, forwardDropChains, parseProcNetUdp, type DoctorInputs, type Finding } from '../../src/daemon/doctor.js';

// /proc/net/udp as the kernel prints it: addresses are the __be32 in host (little-endian) order.
const UDP_HEADER = '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops';
const row = (sl: number, addrHex: string, port: number, inode: number): string =>
  `  ${sl}: ${addrHex}:${port.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 ${inode} 2 0000000000000000 0`;

function inputs(over: Partial<DoctorInputs> = {}): DoctorInputs {
  return {
    procNetUdp: [UDP_HEADER, row(0, '0100007F', 53, 111)].join('\n'),
    socketOwners: new Map(),
    ikePort: 500,
    nattPort: 4500,
    ipForward: '1\n',
    nftTables: 'table inet filter\ntable ip l2tpsec\n',
    nftRuleset: 'table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n}\n',
    binaries: { nft: true, ip: true },
    devNetTun: true,
    defaultRoute: { dev: 'eth0', mtu: 1500 },
    xfrmPolicy: '',
    ...over,
  };
}

const find = (fs: Finding[], id: string): Finding => {
  const f = fs.find((x) => x.id === id);
  if (!f) throw new Error(`no finding ${id}`);
  return f;
};

describe('doctor', () => {
  it('parses /proc/net/udp addresses, ports and inodes', () => {
    const s = parseProcNetUdp([UDP_HEADER, row(0, '0100007F', 500, 42), row(1, '00000000', 4500, 43)].join('\n'));
    expect(s).toEqual([
      { localAddress: '127.0.0.1', localPort: 500, inode: 42 },
      { localAddress: '0.0.0.0', localPort: 4500, inode: 43 },
    ]);
  });

  it('a healthy host: every finding ok, none with a fix', () => {
    const fs = diagnose(inputs(), { daemonRunning: true });
    expect(fs.filter((f) => f.status !== 'ok')).toEqual([]);
    expect(fs.every((f) => f.fix === undefined)).toBe(true);
  });

  it('names another IPsec daemon holding 500/4500, and xl2tpd on 1701, with the fix', () => {
    const udp = [UDP_HEADER, row(0, '00000000', 500, 10), row(1, '00000000', 4500, 11), row(2, '00000000', 1701, 12)].join('\n');
    const owners = new Map([
      [10, { pid: 900, comm: 'charon', cmdline: '/usr/lib/ipsec/charon' }],
      [11, { pid: 900, comm: 'charon', cmdline: '/usr/lib/ipsec/charon' }],
      [12, { pid: 901, comm: 'xl2tpd', cmdline: 'xl2tpd -D' }],
    ]);
    const fs = diagnose(inputs({ procNetUdp: udp, socketOwners: owners }));
    expect(find(fs, 'ports.ike')).toMatchObject({ status: 'error', message: expect.stringMatching(/charon \(pid 900, strongSwan\)/), fix: expect.stringContaining('systemctl disable --now strongswan') });
    expect(find(fs, 'ports.natt').status).toBe('error');
    expect(find(fs, 'ports.l2tp')).toMatchObject({ status: 'warn', fix: expect.stringContaining('xl2tpd') });
  });

  it('ports held by l2tpsec itself are fine; an unknown owner asks for root', () => {
    const udp = [UDP_HEADER, row(0, '00000000', 500, 10), row(1, '00000000', 4500, 11)].join('\n');
    const own = new Map([[10, { pid: 5, comm: 'node', cmdline: 'node /opt/l2tpsec/dist/src/cli/main.js serve' }]]);
    const fs = diagnose(inputs({ procNetUdp: udp, socketOwners: own }));
    expect(find(fs, 'ports.ike').status).toBe('ok');
    expect(find(fs, 'ports.natt')).toMatchObject({ status: 'error', message: expect.stringContaining('root') });
  });

  it('forwarding off, missing binaries and /dev/net/tun, missing nft table while running', () => {
    const fs = diagnose(inputs({ ipForward: '0\n', binaries: { nft: false, ip: false }, devNetTun: false, nftTables: 'table inet filter\n' }), { daemonRunning: true });
    for (const id of ['sysctl.ip_forward', 'bin.nft', 'bin.ip', 'dev.tun', 'nft.table']) {
      expect(find(fs, id).status, id).not.toBe('ok');
      expect(find(fs, id).fix, id).toBeTruthy();
    }
    expect(find(fs, 'sysctl.ip_forward').fix).toContain('net.ipv4.ip_forward = 1');
    expect(fs.some((f) => f.id === 'nft.table')).toBe(true);
    expect(diagnose(inputs({ nftTables: '' })).some((f) => f.id === 'nft.table')).toBe(false);
  });

  it('MTU below 1500 and no default route', () => {
    expect(find(diagnose(inputs({ defaultRoute: { dev: 'ppp0', mtu: 1492 } })), 'net.mtu')).toMatchObject({ status: 'warn', fix: expect.stringContaining('tun.mtu = 1392') });
    expect(find(diagnose(inputs({ defaultRoute: undefined })), 'net.default_route').status).toBe('error');
  });

  it('a forward chain with policy drop, and kernel xfrm policies', () => {
    const ruleset = `table inet firewalld {\n\tchain filter_FORWARD {\n\t\ttype filter hook forward priority filter + 10; policy drop;\n\t}\n}\ntable ip l2tpsec {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t}\n}\n`;
    expect(forwardDropChains(ruleset)).toEqual(['inet firewalld filter_FORWARD', 'ip l2tpsec forward']);
    const fs = diagnose(inputs({ nftRuleset: ruleset, xfrmPolicy: 'src 10.0.0.2/32 dst 10.0.0.1/32 proto udp sport 1701 \n\tdir out priority 0 \n' }));
    expect(find(fs, 'firewall.forward')).toMatchObject({ status: 'warn', message: expect.stringContaining('firewalld filter_FORWARD') });
    expect(find(fs, 'firewall.forward').message).not.toContain('l2tpsec forward');
    expect(find(fs, 'xfrm.policy')).toMatchObject({ status: 'warn', fix: expect.stringContaining('ip xfrm policy flush') });
  });
});
