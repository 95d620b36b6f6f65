/**
 * `l2tpsec doctor`: what breaks real deployments, each finding with its fix.
 * Pure checks over gathered inputs (testable with fixtures); doctor-gather.ts
 * reads them from the host.
 */

export type DoctorStatus = 'ok' | 'warn' | 'error';

export interface Finding {
  /** Stable id, e.g. "ports.ike", "sysctl.ip_forward". */
  id: string;
  status: DoctorStatus;
  message: string;
  /** What to do about it (absent when ok). */
  fix?: string;
}

export interface ProcessInfo {
  pid: number;
  comm: string;
  cmdline: string;
}

export interface DoctorInputs {
  /** /proc/net/udp text (undefined: not readable). */
  procNetUdp: string | undefined;
  /** Socket inode → owning process (from /proc/PID/fd links "socket:[inode]"). */
  socketOwners: Map<number, ProcessInfo>;
  ikePort: number;
  nattPort: number;
  /** /proc/sys/net/ipv4/ip_forward contents. */
  ipForward: string | undefined;
  /** `nft list tables` output (undefined: nft missing or failed). */
  nftTables: string | undefined;
  /** `nft list ruleset` output (undefined: not available). */
  nftRuleset: string | undefined;
  binaries: { nft: boolean; ip: boolean };
  devNetTun: boolean;
  /** The default route's interface and its MTU. */
  defaultRoute: { dev: string; mtu: number | undefined } | undefined;
  /** `ip xfrm policy` output (undefined: not available). */
  xfrmPolicy: string | undefined;
}

export interface UdpSocket {
  localAddress: string;
  localPort: number;
  inode: number;
}

/** /proc/net/udp rows: "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...". */
export function parseProcNetUdp(text: string): UdpSocket[] {
  const out: UdpSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const m = /^([0-9A-Fa-f]{8}):([0-9A-Fa-f]{4})$/.exec(f[1]!);
    const inode = Number(f[9]);
    if (!m || !Number.isInteger(inode)) continue;
    // the address is the kernel's __be32 printed as a host-order (little-endian) word
    const v = parseInt(m[1]!, 16);
    const addr = `${v & 255}.${(v >>> 8) & 255}.${(v >>> 16) & 255}.${(v >>> 24) & 255}`;
    out.push({ localAddress: addr, localPort: parseInt(m[2]!, 16), inode });
  }
  return out;
}

/** IPsec/L2TP daemons that hold our ports or steal our traffic. */
const OTHER_DAEMONS: Record<string, string> = {
  charon: 'strongSwan',
  'charon-systemd': 'strongSwan',
  starter: 'strongSwan',
  pluto: 'Libreswan/Openswan',
  racoon: 'ipsec-tools',
  iked: 'OpenIKED',
  xl2tpd: 'xl2tpd',
  openl2tpd: 'openl2tp',
};

export function isL2tpsec(p: ProcessInfo): boolean {
  return p.comm === 'l2tpsec' || /(^|[/\s])l2tpsec(\s|$)|l2tpsec\/dist\/|src\/cli\/main\.[jt]s/.test(p.cmdline);
}

function portFindings(inp: DoctorInputs): Finding[] {
  if (inp.procNetUdp === undefined) return [{ id: 'ports', status: 'warn', message: 'cannot read /proc/net/udp', fix: 'run doctor on the server itself (Linux, /proc mounted)' }];
  const socks = parseProcNetUdp(inp.procNetUdp);
  const out: Finding[] = [];
  const ports: Array<[string, number, string]> = [
    ['ports.ike', inp.ikePort, 'IKE'],
    ['ports.natt', inp.nattPort, 'NAT-T'],
    ['ports.l2tp', 1701, 'L2TP'],
  ];
  for (const [id, port, what] of ports) {
    const holders = socks.filter((s) => s.localPort === port);
    if (holders.length === 0) {
      out.push({ id, status: 'ok', message: `UDP ${port} (${what}) is free` });
      continue;
    }
    const procs = holders.map((h) => inp.socketOwners.get(h.inode));
    if (procs.every((p) => p !== undefined && isL2tpsec(p))) {
      out.push({ id, status: 'ok', message: `UDP ${port} (${what}) is held by l2tpsec (pid ${procs.map((p) => p!.pid).join(', ')})` });
      continue;
    }
    const names = procs.map((p) => (p ? `${p.comm} (pid ${p.pid}${OTHER_DAEMONS[p.comm] ? `, ${OTHER_DAEMONS[p.comm]}` : ''})` : 'an unknown process (run doctor as root to name it)'));
    const daemon = procs.find((p) => p && OTHER_DAEMONS[p.comm]);
    // xl2tpd on 1701 does not stop us binding 500/4500, but its kernel policies and
    // its own L2TP server on the decrypted traffic would.
    out.push({
      id,
      status: port === 1701 ? 'warn' : 'error',
      message: `UDP ${port} (${what}) is held by ${[...new Set(names)].join(', ')}`,
      fix: daemon
        ? `stop and disable it: systemctl disable --now ${daemon.comm === 'pluto' ? 'ipsec' : daemon.comm === 'charon' || daemon.comm === 'charon-systemd' || daemon.comm === 'starter' ? 'strongswan strongswan-starter' : daemon.comm} (l2tpsec replaces it)`
        : `find it with: ss -ulpn 'sport = :${port}' and stop it`,
    });
  }
  return out;
}

/** `nft list ruleset`: a base chain hooked on forward with policy drop (and no l2tpsec table to accept). */
export function forwardDropChains(ruleset: string): string[] {
  const out: string[] = [];
  let table = '';
  let chain = '';
  for (const raw of ruleset.split('\n')) {
    const line = raw.trim();
    const t = /^table\s+(\S+)\s+(\S+)\s*\{/.exec(line);
    if (t) table = `${t[1]} ${t[2]}`;
    const c = /^chain\s+(\S+)\s*\{/.exec(line);
    if (c) chain = c[1]!;
    if (/type\s+filter\s+hook\s+forward\b/.test(line) && /policy\s+drop\s*;/.test(line)) out.push(`${table} ${chain}`);
  }
  return out;
}

export function diagnose(inp: DoctorInputs, opts: { daemonRunning?: boolean } = {}): Finding[] {
  const out = portFindings(inp);
  const running = opts.daemonRunning ?? false;

  out.push(
    inp.ipForward?.trim() === '1'
      ? { id: 'sysctl.ip_forward', status: 'ok', message: 'IPv4 forwarding is on' }
      : {
          id: 'sysctl.ip_forward',
          status: 'warn',
          message: inp.ipForward === undefined ? 'cannot read net.ipv4.ip_forward' : 'IPv4 forwarding is off (l2tpsec turns it on at start; a sysctl.d file may turn it off again)',
          fix: "echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/60-l2tpsec.conf && sysctl --system",
        },
  );

  out.push(
    inp.binaries.nft
      ? { id: 'bin.nft', status: 'ok', message: 'nft is installed' }
      : { id: 'bin.nft', status: 'error', message: 'nft (nftables) is missing: no NAT or forwarding rules', fix: 'apt install nftables (or dnf install nftables)' },
    inp.binaries.ip
      ? { id: 'bin.ip', status: 'ok', message: 'ip is installed' }
      : { id: 'bin.ip', status: 'error', message: 'ip (iproute2) is missing', fix: 'apt install iproute2' },
    inp.devNetTun
      ? { id: 'dev.tun', status: 'ok', message: '/dev/net/tun is present' }
      : { id: 'dev.tun', status: 'error', message: '/dev/net/tun is missing', fix: 'modprobe tun; in a container: --device /dev/net/tun (and --cap-add NET_ADMIN)' },
  );

  if (running) {
    const has = inp.nftTables !== undefined && /\btable\s+\S+\s+l2tpsec\b/.test(inp.nftTables);
    out.push(
      has
        ? { id: 'nft.table', status: 'ok', message: 'the nftables table l2tpsec is loaded' }
        : { id: 'nft.table', status: 'error', message: 'l2tpsec runs but its nftables table is missing (flushed by a firewall reload?)', fix: 'systemctl restart l2tpsec; make the firewall keep foreign tables (e.g. do not "flush ruleset" on reload)' },
    );
  }

  if (!inp.defaultRoute) {
    out.push({ id: 'net.default_route', status: 'error', message: 'no IPv4 default route: clients cannot reach the internet through the server', fix: 'configure the external interface, or set nat.out_interface' });
  } else if (inp.defaultRoute.mtu !== undefined && inp.defaultRoute.mtu < 1500) {
    out.push({
      id: 'net.mtu',
      status: 'warn',
      message: `external interface ${inp.defaultRoute.dev} has MTU ${inp.defaultRoute.mtu} (< 1500): tunnelled packets will not fit`,
      fix: `lower the tunnel MTU by ${1500 - inp.defaultRoute.mtu}: tun.mtu = ${1400 - (1500 - inp.defaultRoute.mtu)} and ppp.mru = ${1360 - (1500 - inp.defaultRoute.mtu)}`,
    });
  } else {
    out.push({ id: 'net.mtu', status: 'ok', message: `external interface ${inp.defaultRoute.dev}${inp.defaultRoute.mtu !== undefined ? `, MTU ${inp.defaultRoute.mtu}` : ''}` });
  }

  if (inp.nftRuleset !== undefined) {
    const drops = forwardDropChains(inp.nftRuleset).filter((c) => !/\bl2tpsec\b/.test(c));
    out.push(
      drops.length === 0
        ? { id: 'firewall.forward', status: 'ok', message: 'no forward chain with policy drop' }
        : {
            id: 'firewall.forward',
            status: 'warn',
            message: `forward chain with policy drop: ${drops.join('; ')} — a packet must be accepted by every base chain, so it drops the clients' traffic unless it accepts it`,
            fix: 'accept the pool there (e.g. iifname "tun1" accept and ct state established,related accept), or with firewalld/ufw allow forwarding for the tun interface',
          },
    );
  }

  if (inp.xfrmPolicy !== undefined) {
    const policies = inp.xfrmPolicy.split('\n').filter((l) => /^src /.test(l));
    out.push(
      policies.length === 0
        ? { id: 'xfrm.policy', status: 'ok', message: 'no kernel IPsec (xfrm) policies' }
        : {
            id: 'xfrm.policy',
            status: 'warn',
            message: `${policies.length} kernel IPsec (xfrm) polic${policies.length === 1 ? 'y' : 'ies'} present (${policies[0]}${policies.length > 1 ? ', ...' : ''}): they can catch udp/1701 or ESP before l2tpsec sees it`,
            fix: 'stop the other IPsec daemon, then: ip xfrm policy flush && ip xfrm state flush',
          },
    );
  }
  return out;
}

export function formatFinding(f: Finding): string {
  const tag = f.status === 'ok' ? 'ok   ' : f.status === 'warn' ? 'WARN ' : 'ERROR';
  return `${tag} ${f.id}: ${f.message}${f.fix ? `\n      fix: ${f.fix}` : ''}`;
}
