import { type Cidr, formatIPv4, parseCidr } from '../core/ipv4.js';

/**
 * The kernel side of forwarding: an nftables ruleset in a table of our own
 * (`table ip l2tpsec`), generated as text for one `nft -f` transaction.
 *
 * Shape (pool 10.40.0.0/24 on tun1, out of eth0, MSS 1360):
 *
 *   table ip l2tpsec
 *   delete table ip l2tpsec
 *   table ip l2tpsec {
 *     chain forward {
 *       type filter hook forward priority filter - 1; policy accept;
 *       iifname "tun1" tcp flags & (syn | rst) == syn tcp option maxseg size > 1360 tcp option maxseg size set 1360
 *       oifname "tun1" tcp flags & (syn | rst) == syn tcp option maxseg size > 1360 tcp option maxseg size set 1360
 *       iifname "tun1" ip saddr != 10.40.0.0/24 counter drop comment "..."
 *       iifname "tun1" oifname "tun1" counter drop comment "..."        (accept when client_to_client)
 *       oifname "tun1" ip daddr 10.40.0.0/24 ct state established,related accept
 *       iifname "tun1" accept
 *       oifname "tun1" counter drop comment "..."
 *     }
 *     chain postrouting {
 *       type nat hook postrouting priority srcnat + 10; policy accept;
 *       oifname "eth0" ip saddr 10.40.0.0/24 counter masquerade
 *     }
 *   }
 *
 * Idempotence: the first line creates the table if missing (a no-op if it
 * exists), so the delete never fails, and the whole file is one atomic
 * transaction: applying it twice, or after a crash, leaves exactly one copy.
 *
 * Playing well with a host firewall:
 * - Only our own table is touched; every rule matches our TUN by NAME
 *   (iifname/oifname, so it still matches when the TUN is re-created with a
 *   new index after a restart); the chains' policy is accept, so traffic that
 *   is not ours is never affected.
 * - forward at `filter - 1`: just before the usual filter chains (iptables-nft,
 *   firewalld, docker at 0 or later), so spoofed sources are dropped and MSS is
 *   clamped before the host's rules see the packet. Note that in nftables an
 *   accept ends only the current base chain: a host chain with policy drop on
 *   the forward hook still drops our traffic and must allow the TUN itself.
 * - postrouting at `srcnat + 10`: after the host's own NAT chains (srcnat).
 *   The first NAT chain that binds a connection wins, so an administrator's
 *   explicit SNAT for the pool takes precedence and ours is the fallback.
 */

export const DEFAULT_TABLE = 'l2tpsec';
export const FORWARD_PRIORITY = 'filter - 1';
export const POSTROUTING_PRIORITY = 'srcnat + 10';

export interface NatRulesOptions {
  /** Our table name (family ip). Default "l2tpsec". */
  table?: string;
  /** The TUN interface name (config tun.name). */
  tunName: string;
  /** The client address pool, e.g. "10.40.0.0/24" (config ppp.pool). */
  pool: string | Cidr;
  /** The external interface, already resolved (not "auto"). Needed only when masquerade is on. */
  outInterface?: string;
  /** Masquerade the pool out of outInterface (config nat.masquerade). */
  masquerade: boolean;
  /** Let clients reach each other (config nat.client_to_client). */
  clientToClient: boolean;
  /**
   * TCP MSS clamp on SYNs in both directions: a fixed value (normally
   * tunnel MTU - 40, see mssForMtu) or "rt-mtu" (route MTU - 40, computed by the kernel).
   */
  mss: number | 'rt-mtu';
}

/** IPv4 + TCP headers without options (RFC 879, RFC 9293 §3.7.1). */
export function mssForMtu(mtu: number): number {
  return mtu - 40;
}

const IFNAME = /^[A-Za-z0-9_.@-]{1,15}$/;
const TABLE = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;

function checkIfname(what: string, name: string): string {
  if (!IFNAME.test(name)) throw new RangeError(`${what}: not an interface name: ${JSON.stringify(name)}`);
  return name;
}

function checkTable(name: string): string {
  if (!TABLE.test(name)) throw new RangeError(`nftables table name must be an identifier: ${JSON.stringify(name)}`);
  return name;
}

function poolText(pool: string | Cidr): string {
  const c = typeof pool === 'string' ? parseCidr(pool) : pool;
  return `${formatIPv4(c.network)}/${c.prefix}`;
}

function mssRules(tun: string, mss: number | 'rt-mtu'): string[] {
  const syn = 'tcp flags & (syn | rst) == syn';
  if (mss === 'rt-mtu') {
    return [`iifname "${tun}" ${syn} tcp option maxseg size set rt mtu`, `oifname "${tun}" ${syn} tcp option maxseg size set rt mtu`];
  }
  if (!Number.isInteger(mss) || mss < 536 || mss > 65495) throw new RangeError(`MSS must be an integer in 536..65495, got ${mss}`);
  const set = `tcp option maxseg size > ${mss} tcp option maxseg size set ${mss}`;
  return [`iifname "${tun}" ${syn} ${set}`, `oifname "${tun}" ${syn} ${set}`];
}

/** The ruleset as one `nft -f` transaction that replaces any previous copy of our table. */
export function natRuleset(o: NatRulesOptions): string {
  const table = checkTable(o.table ?? DEFAULT_TABLE);
  const tun = checkIfname('tun name', o.tunName);
  const pool = poolText(o.pool);
  const forward = [
    `type filter hook forward priority ${FORWARD_PRIORITY}; policy accept;`,
    ...mssRules(tun, o.mss),
    `iifname "${tun}" ip saddr != ${pool} counter drop comment "anti-spoof: only pool sources from the TUN"`,
    o.clientToClient
      ? `iifname "${tun}" oifname "${tun}" ip saddr ${pool} ip daddr ${pool} accept comment "client-to-client allowed"`
      : `iifname "${tun}" oifname "${tun}" counter drop comment "client-to-client denied"`,
    `oifname "${tun}" ip daddr ${pool} ct state established,related accept`,
    `iifname "${tun}" accept`,
    `oifname "${tun}" counter drop comment "no unsolicited connections to clients"`,
  ];
  const lines = [`table ip ${table}`, `delete table ip ${table}`, `table ip ${table} {`, '  chain forward {'];
  for (const r of forward) lines.push(`    ${r}`);
  lines.push('  }');
  if (o.masquerade) {
    if (o.outInterface === undefined) throw new RangeError('masquerade needs the external interface (outInterface)');
    const out = checkIfname('out interface', o.outInterface);
    lines.push(
      '  chain postrouting {',
      `    type nat hook postrouting priority ${POSTROUTING_PRIORITY}; policy accept;`,
      `    oifname "${out}" ip saddr ${pool} counter masquerade`,
      '  }',
    );
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}

/** Removes our table; succeeds whether or not it exists (one transaction). */
export function natRemoval(table: string = DEFAULT_TABLE): string {
  checkTable(table);
  return `table ip ${table}\ndelete table ip ${table}\n`;
}

/** What src/io's NetConfig applies: the rules of one table, the MSS defaulting to the tunnel MTU's. */
export function nftRules(table: string = DEFAULT_TABLE): {
  readonly table: string;
  ruleset(p: Omit<NatRulesOptions, 'table' | 'mss'> & { mtu: number; mss?: number | 'rt-mtu' }): string;
  removal(): string;
} {
  checkTable(table);
  return {
    table,
    ruleset: ({ mtu, mss, ...rest }) => natRuleset({ ...rest, table, mss: mss ?? mssForMtu(mtu) }),
    removal: () => natRemoval(table),
  };
}
