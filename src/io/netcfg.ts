import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { formatIPv4, parseCidr, type Cidr } from '../core/ipv4.js';
import { type LogEvent, logEvent } from '../core/log.js';
import { execRunner, type Runner } from './exec.js';

/**
 * Host network setup around the TUN device, by running `ip` and `nft` (argument
 * vectors, never a shell): address, MTU and link state of the TUN, IPv4
 * forwarding (old value remembered and restored), the default route's
 * interface for out_interface = "auto", and our nftables table.
 */

export const IP_FORWARD_PATH = '/proc/sys/net/ipv4/ip_forward';

/**
 * Where the value of ip_forward from before our change is kept, written BEFORE the
 * change: after a kill -9 the next start finds it (forwarding is 1 by then) and the
 * next clean stop restores the original value. One file per network namespace
 * (forwarding is per namespace; the inode of /proc/self/ns/net names it).
 */
export function defaultForwardingStateFile(): string | undefined {
  try {
    const m = /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/net'));
    return `/run/l2tpsec/ip_forward-${m?.[1] ?? 'default'}`;
  } catch {
    return undefined;
  }
}

interface RouteJson {
  dst?: unknown;
  dev?: unknown;
  type?: unknown;
  metric?: unknown;
}

/**
 * The interface of the default route from `ip -j route show default` output:
 * among unicast routes with a device, the one with the lowest metric.
 * Undefined when there is none or the text is not the expected JSON.
 */
export function parseDefaultRouteInterface(json: string): string | undefined {
  let routes: unknown;
  try {
    routes = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (!Array.isArray(routes)) return undefined;
  let best: { dev: string; metric: number } | undefined;
  for (const r of routes as unknown[]) {
    if (r === null || typeof r !== 'object') continue;
    const route = r as RouteJson;
    if (typeof route.dev !== 'string' || route.dev === '') continue;
    if (route.type !== undefined && route.type !== 'unicast') continue;
    const metric = typeof route.metric === 'number' ? route.metric : 0;
    if (!best || metric < best.metric) best = { dev: route.dev, metric };
  }
  return best?.dev;
}

/**
 * Base chains of OTHER tables (ip/inet families) on the forward hook whose
 * policy is drop, from `nft -j list chains`, as "family table chain". Our
 * accepts cannot override them (an nftables accept only ends its own base
 * chain), so the host firewall must allow the TUN itself: worth a warning.
 */
export function foreignForwardDropChains(json: string, ourTable: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return [];
  }
  const items = (doc as { nftables?: unknown } | null)?.nftables;
  if (!Array.isArray(items)) return [];
  const out: string[] = [];
  for (const item of items as unknown[]) {
    const c = (item as { chain?: Record<string, unknown> } | null)?.chain;
    if (!c || c.hook !== 'forward' || c.policy !== 'drop') continue;
    if (c.family !== 'ip' && c.family !== 'inet') continue;
    if (c.family === 'ip' && c.table === ourTable) continue;
    out.push(`${String(c.family)} ${String(c.table)} ${String(c.name)}`);
  }
  return out;
}

/**
 * The kernel rules, as text for `nft -f`. src/nat/rules.ts owns them (`nftRules()`);
 * the daemon hands them in, so this I/O code depends on core only.
 */
export interface NatRules {
  /** Our nftables table (family ip). */
  readonly table: string;
  /** The whole table for this plan, replacing any older copy (one transaction). */
  ruleset(p: { tunName: string; pool: Cidr; outInterface?: string; masquerade: boolean; clientToClient: boolean; mtu: number; mss?: number | 'rt-mtu' }): string;
  /** Deletes the table, whether or not it exists (one transaction). */
  removal(): string;
}

export interface NetConfigOptions {
  /** The nftables rules to apply and remove (src/nat/rules.ts nftRules()). */
  rules: NatRules;
  /** How to run ip/nft (default: execFile; netnsRunner(ns) runs them in a namespace). */
  runner?: Runner;
  /** Log sink for setup/teardown events ("netcfg.*"). */
  log?: (e: LogEvent) => void;
  /** ip_forward sysctl file; always that of the calling process's network namespace. */
  ipForwardPath?: string;
  /**
   * File keeping ip_forward's value from before our change (see defaultForwardingStateFile,
   * the default when ipForwardPath is the real sysctl); null = none.
   */
  forwardingStateFile?: string | null;
}

export interface NetworkPlan {
  tunName: string;
  /** Client pool, e.g. "10.40.0.0/24"; the TUN gets its first usable address. */
  pool: string;
  mtu: number;
  masquerade: boolean;
  /** "auto" (the default route's interface) or an interface name. */
  outInterface: string;
  clientToClient: boolean;
  /** TCP MSS clamp in the kernel rules; default mtu - 40. */
  mss?: number | 'rt-mtu';
  /** Set IPv4 forwarding to 1 (restored on teardown). Default true. */
  forwarding?: boolean;
}

export class NetConfig {
  private readonly run: Runner;
  private readonly log: (e: LogEvent) => void;
  private readonly ipForwardPath: string;
  readonly forwardingStateFile: string | undefined;
  readonly table: string;
  private readonly rules: NatRules;
  /** ip_forward before we set it, when we changed it. */
  private savedForwarding: string | undefined;
  private rulesApplied = false;

  constructor(options: NetConfigOptions) {
    this.run = options.runner ?? execRunner;
    this.log = options.log ?? (() => undefined);
    this.ipForwardPath = options.ipForwardPath ?? IP_FORWARD_PATH;
    this.forwardingStateFile =
      options.forwardingStateFile === null ? undefined : (options.forwardingStateFile ?? (this.ipForwardPath === IP_FORWARD_PATH ? defaultForwardingStateFile() : undefined));
    this.rules = options.rules;
    this.table = options.rules.table;
  }

  /**
   * Gives the TUN its address (with the prefix route for the pool), sets the
   * MTU and brings it up. IPv6 address generation is turned off first, so the
   * kernel sends no router solicitations or MLD reports into the tunnel
   * (best effort: it fails harmlessly on a kernel without IPv6).
   */
  async configureTun(name: string, addressCidr: string, mtu: number): Promise<void> {
    try {
      await this.run('ip', ['link', 'set', 'dev', name, 'addrgenmode', 'none']);
    } catch (e) {
      this.log(logEvent('debug', 'netcfg.tun.addrgenmode_failed', { name, error: String(e) }));
    }
    await this.run('ip', ['address', 'replace', addressCidr, 'dev', name]);
    await this.run('ip', ['link', 'set', 'dev', name, 'mtu', String(mtu), 'up']);
    this.log(logEvent('info', 'netcfg.tun.up', { name, address: addressCidr, mtu }));
  }

  /** The default route's interface; throws when there is no default route. */
  async defaultRouteInterface(): Promise<string> {
    const { stdout } = await this.run('ip', ['-j', 'route', 'show', 'default']);
    const dev = parseDefaultRouteInterface(stdout);
    if (dev === undefined) {
      throw new Error('nat.out_interface = "auto" but there is no default route: set nat.out_interface to the external interface');
    }
    return dev;
  }

  async resolveOutInterface(outInterface: string): Promise<string> {
    return outInterface === 'auto' ? this.defaultRouteInterface() : outInterface;
  }

  /** The value a previous run saved before it changed ip_forward (it did not restore it: kill -9). */
  private async readForwardingState(): Promise<string | undefined> {
    if (!this.forwardingStateFile) return undefined;
    try {
      const v = (await readFile(this.forwardingStateFile, 'utf8')).trim();
      return v === '0' || v === '1' ? v : undefined;
    } catch {
      return undefined;
    }
  }

  private async removeForwardingState(): Promise<void> {
    if (this.forwardingStateFile) await unlink(this.forwardingStateFile).catch(() => undefined);
  }

  /**
   * Sets net.ipv4.ip_forward = 1, remembering the old value if it was different: in
   * memory and in the state file, written before the change. Forwarding already on with
   * a state file left by a run that did not stop cleanly: that file's value is the one
   * to restore.
   */
  async enableForwarding(): Promise<void> {
    const old = (await readFile(this.ipForwardPath, 'utf8')).trim();
    if (old === '1') {
      const saved = this.savedForwarding === undefined ? await this.readForwardingState() : undefined;
      if (saved === '0') {
        this.savedForwarding = saved;
        this.log(logEvent('info', 'netcfg.forwarding.recovered', { previous: saved, stateFile: this.forwardingStateFile }));
      } else if (saved !== undefined) {
        await this.removeForwardingState();
      }
      return;
    }
    if (this.forwardingStateFile) {
      await mkdir(dirname(this.forwardingStateFile), { recursive: true, mode: 0o750 });
      await writeFile(this.forwardingStateFile, `${old}\n`, { mode: 0o644 });
    }
    await writeFile(this.ipForwardPath, '1\n');
    if (this.savedForwarding === undefined) this.savedForwarding = old;
    this.log(logEvent('info', 'netcfg.forwarding.enabled', { previous: old }));
  }

  /** Puts ip_forward back as it was before enableForwarding (no-op if we did not change it). */
  async restoreForwarding(): Promise<void> {
    const old = this.savedForwarding;
    if (old === undefined) return;
    await writeFile(this.ipForwardPath, `${old}\n`);
    this.savedForwarding = undefined;
    await this.removeForwardingState();
    this.log(logEvent('info', 'netcfg.forwarding.restored', { value: old }));
  }

  /** Loads a ruleset in one `nft -f -` transaction. */
  async applyRules(ruleset: string): Promise<void> {
    await this.run('nft', ['-f', '-'], ruleset);
    this.rulesApplied = true;
    this.log(logEvent('info', 'netcfg.nft.applied', { table: this.table }));
  }

  /** Deletes our table (succeeds when it is already gone). */
  async removeRules(): Promise<void> {
    await this.run('nft', ['-f', '-'], this.rules.removal());
    this.rulesApplied = false;
    this.log(logEvent('info', 'netcfg.nft.removed', { table: this.table }));
  }

  /** Names of the ip-family nftables tables (for checks and tests). */
  async listTables(): Promise<string[]> {
    const { stdout } = await this.run('nft', ['list', 'tables', 'ip']);
    return stdout
      .split('\n')
      .map((l) => /^table ip (\S+)/.exec(l.trim())?.[1])
      .filter((n): n is string => n !== undefined);
  }

  /**
   * Looks for host firewall chains that drop forwarded traffic by default and
   * logs a warning naming them (netcfg.hostfw.forward_drop). Best effort:
   * returns [] when nft cannot list chains.
   */
  async checkHostFirewall(tunName: string): Promise<string[]> {
    let chains: string[];
    try {
      const { stdout } = await this.run('nft', ['-j', 'list', 'chains']);
      chains = foreignForwardDropChains(stdout, this.table);
    } catch {
      return [];
    }
    if (chains.length > 0) {
      this.log(
        logEvent('warn', 'netcfg.hostfw.forward_drop', {
          chains,
          hint: `these chains drop forwarded traffic by default: make sure they accept traffic from and to ${tunName}`,
        }),
      );
    }
    return chains;
  }

  /**
   * Everything the daemon needs after opening the TUN: address/MTU/up,
   * forwarding, out interface, ruleset, then a check of the host firewall.
   * Returns the resolved out interface, the ruleset applied and the host
   * chains that drop forwarded traffic by default (also logged as a warning).
   */
  async bringUp(plan: NetworkPlan): Promise<{ outInterface: string | undefined; ruleset: string; hostForwardDrop: string[] }> {
    const pool = parseCidr(plan.pool);
    const address = `${formatIPv4(pool.first + 1)}/${pool.prefix}`;
    await this.configureTun(plan.tunName, address, plan.mtu);
    if (plan.forwarding !== false) await this.enableForwarding();
    const outInterface = plan.masquerade ? await this.resolveOutInterface(plan.outInterface) : undefined;
    const ruleset = this.rules.ruleset({
      tunName: plan.tunName,
      pool,
      ...(outInterface !== undefined ? { outInterface } : {}),
      masquerade: plan.masquerade,
      clientToClient: plan.clientToClient,
      mtu: plan.mtu,
      ...(plan.mss !== undefined ? { mss: plan.mss } : {}),
    });
    await this.applyRules(ruleset);
    const hostForwardDrop = await this.checkHostFirewall(plan.tunName);
    return { outInterface, ruleset, hostForwardDrop };
  }

  /** Removes our rules and restores forwarding; keeps going past a failing step. */
  async tearDown(): Promise<void> {
    const errors: unknown[] = [];
    try {
      await this.removeRules();
    } catch (e) {
      errors.push(e);
    }
    try {
      await this.restoreForwarding();
    } catch (e) {
      errors.push(e);
    }
    for (const e of errors) this.log(logEvent('warn', 'netcfg.teardown.failed', { error: String(e) }));
  }

  /**
   * Synchronous teardown for process.on('exit'), where no promise can run.
   * Uses execFileSync directly (the runner is asynchronous); does nothing
   * that was not set up.
   */
  tearDownSync(): void {
    if (this.rulesApplied) {
      try {
        execFileSync('nft', ['-f', '-'], { input: this.rules.removal(), stdio: ['pipe', 'ignore', 'ignore'], timeout: 5000 });
        this.rulesApplied = false;
      } catch {
        /* best effort at exit */
      }
    }
    if (this.savedForwarding !== undefined) {
      try {
        writeFileSync(this.ipForwardPath, `${this.savedForwarding}\n`);
        this.savedForwarding = undefined;
        if (this.forwardingStateFile) unlinkSync(this.forwardingStateFile);
      } catch {
        /* best effort at exit */
      }
    }
  }

  /** Current ip_forward value ("0" or "1"). */
  readForwarding(): string {
    return readFileSync(this.ipForwardPath, 'utf8').trim();
  }
}
