import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { isL2tpsec, parseProcNetUdp, type DoctorInputs, type ProcessInfo } from './doctor.js';

/** The thin I/O side of `l2tpsec doctor`: reads the host into DoctorInputs. */

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function which(bin: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const d of dirs) if (d && existsSync(join(d, bin))) return join(d, bin);
  return undefined;
}

function run(bin: string | undefined, args: string[]): string | undefined {
  if (!bin) return undefined;
  try {
    return execFileSync(bin, args, { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}

/** Socket inode → process, for the inodes asked about (needs root to see other users' fds). */
export function socketOwners(inodes: Set<number>): Map<number, ProcessInfo> {
  const out = new Map<number, ProcessInfo>();
  if (inodes.size === 0) return out;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^[0-9]+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[([0-9]+)\]$/.exec(link);
      if (!m || !inodes.has(Number(m[1]))) continue;
      out.set(Number(m[1]), {
        pid: Number(pid),
        comm: (readOr(`/proc/${pid}/comm`) ?? '?').trim(),
        cmdline: (readOr(`/proc/${pid}/cmdline`) ?? '').split('\0').join(' ').trim(),
      });
    }
  }
  return out;
}

export function gatherDoctorInputs(ports: { ikePort: number; nattPort: number }): { inputs: DoctorInputs; daemonRunning: boolean } {
  const procNetUdp = readOr('/proc/net/udp');
  const wanted = new Set<number>();
  for (const s of procNetUdp ? parseProcNetUdp(procNetUdp) : []) {
    if (s.localPort === ports.ikePort || s.localPort === ports.nattPort || s.localPort === 1701) wanted.add(s.inode);
  }
  const owners = socketOwners(wanted);
  const nft = which('nft');
  const ip = which('ip');
  let defaultRoute: DoctorInputs['defaultRoute'];
  const routes = run(ip, ['-4', 'route', 'show', 'default']);
  const dev = routes ? /\bdev\s+(\S+)/.exec(routes)?.[1] : undefined;
  if (dev) {
    const mtu = Number(readOr(`/sys/class/net/${dev}/mtu`));
    defaultRoute = { dev, mtu: Number.isFinite(mtu) && mtu > 0 ? mtu : undefined };
  }
  const inputs: DoctorInputs = {
    procNetUdp,
    socketOwners: owners,
    ikePort: ports.ikePort,
    nattPort: ports.nattPort,
    ipForward: readOr('/proc/sys/net/ipv4/ip_forward'),
    nftTables: run(nft, ['list', 'tables']),
    nftRuleset: run(nft, ['list', 'ruleset']),
    binaries: { nft: nft !== undefined, ip: ip !== undefined },
    devNetTun: existsSync('/dev/net/tun'),
    defaultRoute,
    xfrmPolicy: run(ip, ['xfrm', 'policy']),
  };
  const daemonRunning = [...owners.values()].some(isL2tpsec);
  return { inputs, daemonRunning };
}
