/**
 * The test network, all in network namespaces this run makes (names `l2s<pid>-...`):
 *
 *   VMs ──tap── [homeN: br0 192.0.2.1/24] ── wan 100.64.N.1 ── 100.64.N.254 [inet] 198.51.100.254 ── 198.51.100.1 [server]
 *                                                          inet also holds 203.0.113.10 (HTTP, on lo), no route to 10.40.0.0/24
 *
 * `direct` homes route 192.0.2.0/24 without NAT (inet routes it back via 100.64.N.1);
 * `nat` homes masquerade it out of wan, so the server sees 100.64.N.1 and NAT-T is used.
 */
import { run, bash } from './util.js';

export const SERVER_ADDR = '198.51.100.1';
export const INET_SERVER_SIDE = '198.51.100.254';
export const HTTP_ADDR = '203.0.113.10';
export const CLIENT_GW = '192.0.2.1';

export type HomeKind = 'direct' | 'nat';

export interface Home {
  ns: string;
  index: number;
  kind: HomeKind;
  /** The address the server sees for this home's clients when NATed. */
  publicAddr: string;
}

export interface Net {
  prefix: string;
  inet: string;
  server: string;
  homes: Home[];
}

async function ip(args: string[]): Promise<void> {
  await run('ip', args);
}

async function nsExec(ns: string, cmd: string, args: string[]): Promise<string> {
  return (await run('ip', ['netns', 'exec', ns, cmd, ...args])).stdout;
}

export async function listNamespaces(): Promise<string[]> {
  const r = await run('ip', ['netns', 'list'], { allowFail: true });
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** PIDs of processes running inside a namespace. */
export async function nsPids(ns: string): Promise<number[]> {
  const r = await run('ip', ['netns', 'pids', ns], { allowFail: true });
  return r.stdout
    .split('\n')
    .map((l) => Number.parseInt(l, 10))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** Kill the processes inside one of our namespaces (all were started by a harness run), then delete it. */
export async function deleteNamespace(ns: string): Promise<void> {
  for (const pid of await nsPids(ns)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await run('ip', ['netns', 'del', ns], { allowFail: true });
}

/**
 * Namespaces of earlier runs that crashed: `l2s<pid>-*` whose harness PID is gone
 * (a concurrent live run is left alone).
 */
export async function cleanupStale(): Promise<string[]> {
  const removed: string[] = [];
  for (const ns of await listNamespaces()) {
    const m = /^l2s(\d+)-/.exec(ns);
    if (!m?.[1]) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    await deleteNamespace(ns);
    removed.push(ns);
  }
  return removed;
}

export function netNames(prefix: string): Net {
  return { prefix, inet: `${prefix}-inet`, server: `${prefix}-server`, homes: [] };
}

async function makeNs(ns: string): Promise<void> {
  await ip(['netns', 'add', ns]);
  await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
}

/** inet + server, linked; the HTTP address lives on a dummy in inet. */
export async function createCore(net: Net): Promise<void> {
  await makeNs(net.inet);
  await makeNs(net.server);
  await ip(['-n', net.inet, 'link', 'add', 'to-server', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', net.server]);
  await ip(['-n', net.inet, 'addr', 'add', `${INET_SERVER_SIDE}/24`, 'dev', 'to-server']);
  await ip(['-n', net.inet, 'link', 'set', 'to-server', 'up']);
  await ip(['-n', net.server, 'addr', 'add', `${SERVER_ADDR}/24`, 'dev', 'eth0']);
  await ip(['-n', net.server, 'link', 'set', 'eth0', 'up']);
  await ip(['-n', net.server, 'route', 'add', 'default', 'via', INET_SERVER_SIDE]);
  // The host kernel has no dummy interfaces: the web address lives on inet's lo.
  await ip(['-n', net.inet, 'addr', 'add', `${HTTP_ADDR}/32`, 'dev', 'lo']);
  await nsExec(net.inet, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  // The server namespace starts with forwarding off: l2tpsec must turn it on itself.
}

/** homeN: bridge br0 for the VMs' taps, wan veth to inet, routing or masquerade. */
export async function createHome(net: Net, index: number, kind: HomeKind): Promise<Home> {
  const ns = `${net.prefix}-home${index}`;
  const home: Home = { ns, index, kind, publicAddr: `100.64.${index}.1` };
  await makeNs(ns);
  await ip(['-n', ns, 'link', 'add', 'wan', 'type', 'veth', 'peer', 'name', `to-home${index}`, 'netns', net.inet]);
  await ip(['-n', ns, 'addr', 'add', `100.64.${index}.1/24`, 'dev', 'wan']);
  await ip(['-n', ns, 'link', 'set', 'wan', 'up']);
  await ip(['-n', net.inet, 'addr', 'add', `100.64.${index}.254/24`, 'dev', `to-home${index}`]);
  await ip(['-n', net.inet, 'link', 'set', `to-home${index}`, 'up']);
  await ip(['-n', ns, 'link', 'add', 'br0', 'type', 'bridge']);
  await ip(['-n', ns, 'addr', 'add', `${CLIENT_GW}/24`, 'dev', 'br0']);
  await ip(['-n', ns, 'link', 'set', 'br0', 'up']);
  await ip(['-n', ns, 'route', 'add', 'default', 'via', `100.64.${index}.254`]);
  await nsExec(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  if (kind === 'direct') {
    if (net.homes.some((h) => h.kind === 'direct')) throw new Error('only one direct home per run (the client subnet is shared)');
    await ip(['-n', net.inet, 'route', 'add', '192.0.2.0/24', 'via', home.publicAddr]);
  } else {
    await run('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], {
      input: `table ip l2shome {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" ip saddr 192.0.2.0/24 masquerade
  }
}
`,
    });
  }
  net.homes.push(home);
  return home;
}

/** A tap for one VM, on the home's bridge. */
export async function createTap(home: Home, tap: string): Promise<void> {
  await ip(['-n', home.ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
  await ip(['-n', home.ns, 'link', 'set', tap, 'master', 'br0']);
  await ip(['-n', home.ns, 'link', 'set', tap, 'up']);
}

/** What the server left behind in its namespace: TUN devices l2stun*, the nftables table l2tpsec. */
export async function serverLeftovers(net: Net): Promise<string[]> {
  const found: string[] = [];
  const links = await run('ip', ['-n', net.server, '-o', 'link', 'show'], { allowFail: true });
  for (const line of links.stdout.split('\n')) {
    const m = /^\d+:\s+(l2stun[^:@\s]*)/.exec(line);
    if (m?.[1]) found.push(`TUN device ${m[1]}`);
  }
  const tables = await bash(`ip netns exec ${net.server} nft list tables`, { allowFail: true });
  for (const line of tables.stdout.split('\n')) {
    if (/^table\s+\S+\s+l2tpsec\b/.test(line.trim())) found.push(`nftables ${line.trim()}`);
  }
  return found;
}

/** Remove what serverLeftovers found, so the next scenario starts clean. */
export async function removeServerLeftovers(net: Net): Promise<void> {
  const links = await run('ip', ['-n', net.server, '-o', 'link', 'show'], { allowFail: true });
  for (const line of links.stdout.split('\n')) {
    const m = /^\d+:\s+(l2stun[^:@\s]*)/.exec(line);
    if (m?.[1]) await run('ip', ['-n', net.server, 'link', 'del', m[1]], { allowFail: true });
  }
  const tables = await bash(`ip netns exec ${net.server} nft list tables`, { allowFail: true });
  for (const line of tables.stdout.split('\n')) {
    const m = /^table\s+(\S+)\s+l2tpsec\b/.exec(line.trim());
    if (m?.[1]) await run('ip', ['netns', 'exec', net.server, 'nft', 'delete', 'table', m[1], 'l2tpsec'], { allowFail: true });
  }
}

/** net.ipv4.ip_forward in the server namespace ("0" or "1"). */
export async function serverForwarding(net: Net): Promise<string> {
  return (await run('ip', ['netns', 'exec', net.server, 'cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim();
}

export async function setServerForwarding(net: Net, value: string): Promise<void> {
  await run('ip', ['netns', 'exec', net.server, 'sysctl', '-qw', `net.ipv4.ip_forward=${value}`]);
}

/**
 * The server's nftables table `ip l2tpsec` in its namespace: the listing and its number
 * of rules (lines with a handle that are neither a table nor a chain), or null when absent.
 */
export async function serverTable(net: Net): Promise<{ text: string; rules: number } | null> {
  const r = await run('ip', ['netns', 'exec', net.server, 'nft', '-a', 'list', 'table', 'ip', 'l2tpsec'], { allowFail: true });
  if (r.code !== 0) return null;
  const rules = r.stdout.split('\n').filter((l) => /# handle \d+\s*$/.test(l) && !/^\s*(table|chain|set|map)\s/.test(l)).length;
  return { text: r.stdout, rules };
}
