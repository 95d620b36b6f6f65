/**
 * Faults on the path, for the system-level scenarios (`loss`, `delay-reorder`, `dup`):
 *
 * - loss and duplicates in the `inet` namespace, between the client's home and the
 *   server (nftables, both directions; the host kernel has no netem): `numgen random`
 *   drops a share of every packet, `dup to` sends every IKE packet twice;
 * - delay and reordering on the client VM's own eth0 (its kernel has sch_netem).
 *
 * Everything here touches only namespaces of this run and the VM; each `apply` has its
 * `remove`, called whatever happens, so the scenarios after it see a clean path.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { run } from './util.js';
import { SERVER_ADDR, type Home, type Net } from './netns.js';

const TABLE = 'l2sfault';

export interface PathFaults {
  /** Percent of packets dropped, each direction, at random. */
  lossPct?: number;
  /** Every IKE packet (UDP 500, and UDP 4500 with the non-ESP marker) sent twice, both directions. */
  dupIke?: boolean;
  /**
   * The client's Quick Mode 3 dropped once: the only IKE message from the client of that
   * size (UDP length 72 on 4500 with the non-ESP marker: HASH(3) alone, with a SHA-1
   * Phase 1 as the seed profile has); the quota lets the first one match only.
   */
  dropQm3Once?: boolean;
}

/** The nftables table of the faults, in the inet namespace; the rules are counted for the verdicts. */
export function pathFaultRules(home: Home, f: PathFaults): string {
  const toHome = `to-home${home.index}`;
  const up = `iifname "${toHome}" oifname "to-server"`;
  const down = `iifname "to-server" oifname "${toHome}"`;
  const rules: string[] = [];
  if (f.dupIke === true) {
    // `dup to GATEWAY device DEV` sends a copy to the same destination through that
    // next hop; the copy skips the rest of netfilter (it is not duplicated again).
    rules.push(`${up} udp dport 500 counter dup to ${SERVER_ADDR} device "to-server" comment "dup-up-500"`);
    rules.push(`${up} udp dport 4500 @th,64,32 0 counter dup to ${SERVER_ADDR} device "to-server" comment "dup-up-4500"`);
    rules.push(`${down} udp sport 500 counter dup to ${home.publicAddr} device "${toHome}" comment "dup-down-500"`);
    rules.push(`${down} udp sport 4500 @th,64,32 0 counter dup to ${home.publicAddr} device "${toHome}" comment "dup-down-4500"`);
  }
  if (f.dropQm3Once === true) {
    rules.push(`${up} udp dport 4500 udp length 72 @th,64,32 0 quota until 100 bytes counter drop comment "drop-qm3"`);
  }
  if (f.lossPct !== undefined && f.lossPct > 0) {
    rules.push(`${up} counter comment "all-up"`);
    rules.push(`${down} counter comment "all-down"`);
    rules.push(`${up} numgen random mod 100 < ${f.lossPct} counter drop comment "loss-up"`);
    rules.push(`${down} numgen random mod 100 < ${f.lossPct} counter drop comment "loss-down"`);
  }
  return `table ip ${TABLE}
delete table ip ${TABLE}
table ip ${TABLE} {
  chain path {
    type filter hook forward priority -10; policy accept;
${rules.map((r) => `    ${r}`).join('\n')}
  }
}
`;
}

export async function applyPathFaults(net: Net, home: Home, f: PathFaults): Promise<string> {
  const text = pathFaultRules(home, f);
  await run('ip', ['netns', 'exec', net.inet, 'nft', '-f', '-'], { input: text });
  return text;
}

/** Packet counters of the fault rules, by comment. */
export async function pathFaultCounters(net: Net): Promise<Map<string, number>> {
  const r = await run('ip', ['netns', 'exec', net.inet, 'nft', 'list', 'table', 'ip', TABLE], { allowFail: true });
  const out = new Map<string, number>();
  for (const line of r.stdout.split('\n')) {
    const m = /counter packets (\d+) bytes \d+.*comment "([^"]+)"/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) out.set(m[2], Number(m[1]));
  }
  return out;
}

export async function removePathFaults(net: Net): Promise<void> {
  await run('ip', ['netns', 'exec', net.inet, 'nft', 'delete', 'table', 'ip', TABLE], { allowFail: true });
}

/** Guest job: netem on the VM's eth0 (its egress: everything the client sends). */
export function netemOnJob(guestDir: string, netem: string): string {
  return `
D=${guestDir}
mkdir -p "$D"
modprobe sch_netem
tc qdisc replace dev eth0 root netem ${netem}
tc qdisc show dev eth0 | tee "$D/netem.txt"
`;
}

/** Guest job: the qdisc's counters (evidence), then netem off again. */
export function netemOffJob(guestDir: string): string {
  return `
D=${guestDir}
tc -s qdisc show dev eth0 > "$D/netem-stats.txt" 2>&1
tc qdisc del dev eth0 root 2>/dev/null
tc qdisc show dev eth0 >> "$D/netem-stats.txt" 2>&1
cat "$D/netem-stats.txt"
`;
}

/** `sent N pkt` of the netem qdisc in `tc -s qdisc show`. */
export function netemSent(stats: string): number {
  const m = /qdisc netem[\s\S]*?Sent \d+ bytes (\d+) pkt/.exec(stats);
  return Number(m?.[1] ?? 0);
}

/**
 * IKE packets (to `port` 500, or 4500 with the non-ESP marker) in a capture, and how
 * many of them arrived at least twice byte for byte (IP header included: a copy made
 * on the path is identical, a retransmission by the client has a new IP ID).
 */
export function ikeDuplicates(pcap: string, dir: 'to-server' | 'from-server'): { distinct: number; twice: number } {
  const seen = new Map<string, number>();
  for (const ip of pcapIpv4Packets(pcap)) {
    if (ip.length < 28 || ip[9] !== 17) continue;
    const ihl = (ip[0]! & 0x0f) * 4;
    const udp = ip.subarray(ihl);
    if (udp.length < 8) continue;
    const port = dir === 'to-server' ? udp.readUInt16BE(2) : udp.readUInt16BE(0);
    const ike = port === 500 || (port === 4500 && udp.length >= 12 && udp.readUInt32BE(8) === 0);
    if (!ike) continue;
    const from = `${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}`;
    if ((dir === 'to-server') === (from === SERVER_ADDR)) continue;
    const key = createHash('sha256').update(ip).digest('hex');
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  let twice = 0;
  for (const n of seen.values()) if (n >= 2) twice++;
  return { distinct: seen.size, twice };
}

/** The IPv4 packets of a classic pcap file (Ethernet or raw IP link types); nothing when it cannot be read. */
export function pcapIpv4Packets(path: string): Buffer[] {
  if (!existsSync(path)) return [];
  const b = readFileSync(path);
  if (b.length < 24) return [];
  const magic = b.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && b.readUInt32BE(0) !== 0xa1b2c3d4 && b.readUInt32BE(0) !== 0xa1b23c4d) return [];
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const link = u32(20);
  const out: Buffer[] = [];
  for (let o = 24; o + 16 <= b.length; ) {
    const incl = u32(o + 8);
    const start = o + 16;
    if (start + incl > b.length) break;
    const frame = b.subarray(start, start + incl);
    o = start + incl;
    if (link === 1) {
      if (frame.length >= 14 && frame.readUInt16BE(12) === 0x0800) out.push(frame.subarray(14));
    } else if (link === 101 || link === 228) {
      out.push(frame);
    }
  }
  return out;
}

/** Quick Mode messages the server sent, in a capture (read whole: tcpdump tells the directions apart by the exchange). */
export async function quickModeReplies(pcap: string): Promise<number> {
  if (!existsSync(pcap)) return 0;
  const r = await run('tcpdump', ['-nn', '-r', pcap, 'udp port 500 or udp port 4500'], { allowFail: true });
  const from = new RegExp(`IP ${SERVER_ADDR.replace(/\./g, '\\.')}\\.(500|4500) > .*oakley-quick`);
  return r.stdout.split('\n').filter((l) => from.test(l)).length;
}

/**
 * Guest job: the client's kernel drops the first MS-CHAPv2 Success it receives (nftables
 * on input, after ESP: the inner UDP from 1701 with an L2TP data header of 8 bytes, then
 * PPP ff 03 c2 23 03); the server address goes into a set, so later ones pass.
 */
export function dropChapSuccessOnJob(guestDir: string): string {
  return `
D=${guestDir}
mkdir -p "$D"
modprobe nf_tables 2>/dev/null
nft -f - <<'L2S_EOF'
table ip l2sguest
delete table ip l2sguest
table ip l2sguest {
  set done { type ipv4_addr; }
  chain in {
    type filter hook input priority 0; policy accept;
    udp sport 1701 @th,128,40 0xff03c22303 ip saddr @done counter accept comment "success-passed"
    udp sport 1701 @th,128,40 0xff03c22303 add @done { ip saddr } counter drop comment "success-dropped"
  }
}
L2S_EOF
nft list table ip l2sguest > "$D/guest-nft.txt" 2>&1
echo "rc=$?"
`;
}

/** Guest job: the rule's counters (evidence), then the table removed. */
export function dropChapSuccessOffJob(guestDir: string): string {
  return `
D=${guestDir}
nft list table ip l2sguest > "$D/guest-nft-after.txt" 2>&1
nft delete table ip l2sguest 2>/dev/null
cat "$D/guest-nft-after.txt"
`;
}

/** Packet counter of a commented rule in an `nft list` output. */
export function nftCounter(listing: string, comment: string): number {
  return Number(new RegExp(`counter packets (\\d+) bytes \\d+.*comment "${comment}"`).exec(listing)?.[1] ?? 0);
}
