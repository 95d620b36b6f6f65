import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cidrContains, parseCidr, parseIPv4 } from '../core/ipv4.js';
import { CertProblem, loadServerIdentity } from './certs.js';
import { ConfigError, keyLines, validateConfig, type Config } from './config.js';
import { parseUsers, userLines, type UserStore } from './users.js';

/**
 * `l2tpsec check`: every problem of a config and its users file, each with file,
 * line and key (the config schema reports them all; the users file is parsed table by
 * table when it fails whole), plus checks a parse does not make: PSK strength, static
 * addresses vs the pool, DNS inside the pool, out_interface, control.group.
 */

export type Severity = 'error' | 'warning';

export interface Problem {
  severity: Severity;
  file: string;
  line: number | undefined;
  key: string | undefined;
  message: string;
}

export interface CheckEnv {
  /** Reads a file (the users file, the IKEv2 certificate and key); throws ENOENT when missing. */
  readFile: (path: string) => string;
  /** The time certificates are checked against (default now). */
  now?: Date;
  /** Whether a network interface exists (out_interface); undefined = cannot tell. */
  interfaceExists: (name: string) => boolean | undefined;
  /** Whether a group exists (control.group); undefined = cannot tell. */
  groupExists?: (name: string) => boolean | undefined;
}

export interface CheckResult {
  problems: Problem[];
  errors: number;
  warnings: number;
  /** The config as parsed with the offending lines left out (defaults in their place). */
  config: Config | undefined;
  users: number;
}

/** Pre-shared keys seen in guides and defaults (lower case): anyone can guess them. */
export const WEAK_PSKS: readonly string[] = [
  'a long random secret', // our README example
  'your_ipsec_pre_shared_key',
  'your_psk',
  'changeme',
  'change_me',
  'secret',
  'password',
  'psk',
  'vpn',
  'test',
  '12345678',
  '123456789',
  'sharedsecret',
  'presharedkey',
];

function fromError(e: ConfigError, severity: Severity = 'error'): Problem {
  return { severity, file: e.file, line: e.line, key: e.key, message: e.problem };
}

/** Every problem of a config text (the schema reports them all), and the config parsed without the offending keys. */
export function configProblems(text: string, file: string): { problems: Problem[]; config: Config | undefined } {
  const { config, problems } = validateConfig(text, file);
  return { problems: problems.map((e) => fromError(e)), config };
}

/**
 * Every problem of a users file. The whole file is parsed as the daemon parses it; only
 * when that fails is it parsed one [users.NAME] table at a time (line numbers kept), so
 * one bad table does not hide the problems of the others.
 */
export function usersProblems(text: string, file: string): { problems: Problem[]; store: UserStore[] } {
  try {
    return { problems: [], store: [parseUsers(text, file)] };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const piecewise = usersProblemsByTable(text, file);
    // an error only the whole file shows (a table defined twice) is reported as such
    return piecewise.problems.length > 0 ? piecewise : { problems: [fromError(e)], store: [] };
  }
}

function usersProblemsByTable(text: string, file: string): { problems: Problem[]; store: UserStore[] } {
  const problems: Problem[] = [];
  const stores: UserStore[] = [];
  const lines = text.split('\n');
  const starts: number[] = [];
  lines.forEach((l, i) => {
    if (/^\s*\[/.test(l)) starts.push(i);
  });
  const chunks: Array<[number, number]> = [];
  if (starts.length === 0 || starts[0]! > 0) chunks.push([0, starts[0] ?? lines.length]);
  starts.forEach((s, k) => chunks.push([s, starts[k + 1] ?? lines.length]));
  for (const [a, b] of chunks) {
    const chunk = '\n'.repeat(a) + lines.slice(a, b).join('\n');
    try {
      stores.push(parseUsers(chunk, file));
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problems.push(fromError(e));
    }
  }
  return { problems, store: stores };
}

/** PSK strength: a known default is an error; short or few distinct characters a warning. */
export function pskProblems(psk: string, file: string, line: number | undefined): Problem[] {
  const p = (severity: Severity, message: string): Problem => ({ severity, file, line, key: 'ipsec.psk', message });
  if (WEAK_PSKS.includes(psk.trim().toLowerCase())) return [p('error', 'a well-known example or default pre-shared key: anyone can guess it (use 24+ random characters)')];
  const out: Problem[] = [];
  if ([...psk].length < 16) out.push(p('warning', `only ${[...psk].length} characters: an offline dictionary attack on a captured handshake is cheap (use 20+ random characters)`));
  const distinct = new Set(psk).size;
  if (distinct < 8) out.push(p('warning', `only ${distinct} distinct characters: looks guessable`));
  return out;
}

/**
 * What is wrong with `address` as a user's static address in this config's pool
 * (outside it, the network, the server's tunnel address or the broadcast); undefined when fine.
 */
export function staticAddressProblem(cfg: Config, address: string): string | undefined {
  const pool = parseCidr(cfg.ppp.pool);
  let a: number;
  try {
    a = parseIPv4(address);
  } catch {
    return `not an IPv4 address: ${JSON.stringify(address)}`;
  }
  if (!cidrContains(pool, a)) return `${address} is outside the pool ${cfg.ppp.pool}`;
  if (a === pool.first) return `${address} is the pool's network address`;
  if (a === pool.first + 1) return `${address} is the server's tunnel address`;
  if (a === pool.last) return `${address} is the pool's broadcast address`;
  return undefined;
}

/** Static user addresses: inside the pool, not the network, the server's tunnel address or the broadcast. */
export function staticAddressProblems(cfg: Config, stores: UserStore[], usersText: string): Problem[] {
  const out: Problem[] = [];
  const lines = userLines(usersText);
  const seen = new Map<string, string>();
  for (const store of stores) {
    for (const u of store.list()) {
      if (u.address === undefined) continue;
      const key = `users.${u.name}.address`;
      const line = lines.get(key);
      const p = (message: string): void => void out.push({ severity: 'error', file: cfg.ppp.usersFile, line, key, message });
      const bad = staticAddressProblem(cfg, u.address);
      if (bad) p(bad);
      const other = seen.get(u.address);
      if (other !== undefined) p(`${u.address} is also the static address of ${JSON.stringify(other)}`);
      seen.set(u.address, u.name);
    }
  }
  return out;
}

/** [limits] that contradict each other: the smaller one silently wins. */
export function limitsProblems(cfg: Config, keyLine: (key: string) => number | undefined): Problem[] {
  const l = cfg.limits;
  const out: Problem[] = [];
  const warn = (key: string, message: string): void => void out.push({ severity: 'warning', file: cfg.file, line: keyLine(key), key, message });
  if (l.halfOpenPerAddress > l.halfOpenTotal) warn('limits.half_open_per_address', `larger than limits.half_open_total (${l.halfOpenTotal}): the total is what applies`);
  if (l.ikeSasPerAddress > l.ikeSasTotal) warn('limits.ike_sas_per_address', `larger than limits.ike_sas_total (${l.ikeSasTotal}): the total is what applies`);
  if (l.ikeSasPerIdentity > l.ikeSasTotal) warn('limits.ike_sas_per_identity', `larger than limits.ike_sas_total (${l.ikeSasTotal}): the total is what applies`);
  if (l.childSasPerIkeSa < 2) warn('limits.child_sas_per_ike_sa', 'below 2: a client cannot rekey its IPsec SA before the old one expires');
  if (l.ikeSasPerIdentity < 50) {
    warn('limits.ike_sas_per_identity', 'many clients send the same identity (their private address, e.g. 192.168.1.2): a low limit refuses real clients');
  }
  return out;
}

/** [radius] settings that work but weaken something: each a warning naming its key. */
export function radiusProblems(cfg: Config, keyLine: (key: string) => number | undefined): Problem[] {
  const r = cfg.radius;
  const out: Problem[] = [];
  const warn = (key: string, message: string): void => void out.push({ severity: 'warning', file: cfg.file, line: keyLine(key) ?? keyLine(key.split('.')[0]!), key, message });
  if (!r.enabled) {
    // a [radius] section without servers: easy to miss that nothing of it is used
    if (keyLine('radius') !== undefined) warn('radius.servers', 'no servers listed: RADIUS is off and the users file decides logins (servers = [{ address = "...", secret = "..." }])');
    return out;
  }
  if (!r.requireMessageAuthenticator)
    warn('radius.require_message_authenticator', 'false: Access-Accept/Reject without Message-Authenticator are accepted, which reopens BlastRADIUS (CVE-2024-3596); configure the RADIUS server to send it (README "RADIUS")');
  r.servers.forEach((s, i) => {
    if (s.secret && [...s.secret].length < 16) warn('radius.servers', `server ${i + 1} (${s.address}): a shared secret of ${[...s.secret].length} characters is guessable offline from one captured request (use 16+ random characters)`);
  });
  if (r.fallbackToUsersFile) warn('radius.fallback_to_users_file', 'true: when no RADIUS server answers, the local users file decides (and accounting is spooled)');
  return out;
}

/** A DNS server inside the pool answers only if it is the server's tunnel address (and even then only with a resolver there). */
export function dnsProblems(cfg: Config, line: number | undefined): Problem[] {
  const pool = parseCidr(cfg.ppp.pool);
  const out: Problem[] = [];
  for (const s of cfg.ppp.dns) {
    const a = parseIPv4(s);
    if (cidrContains(pool, a) && a !== pool.first + 1) {
      out.push({ severity: 'warning', file: cfg.file, line, key: 'ppp.dns', message: `${s} is inside the pool but is not the server's tunnel address: nothing answers there` });
    }
  }
  return out;
}

/**
 * The IKEv2 certificate and key (only when ikev2.enabled): what loadServerIdentity refuses
 * is an error, what a client may refuse a warning. Each names the file (and line) and key.
 */
export function ikev2Problems(cfg: Config, env: Pick<CheckEnv, 'readFile'> & { now?: Date }): Problem[] {
  if (!cfg.ikev2.enabled) return [];
  const of = (p: CertProblem, severity: Severity): Problem => ({ severity, file: p.file, line: p.line, key: p.key, message: p.problem });
  try {
    const id = loadServerIdentity(cfg, { readFile: env.readFile, ...(env.now ? { now: env.now } : {}) });
    return id.warnings.map((w) => of(w, 'warning'));
  } catch (e) {
    if (e instanceof CertProblem) return [of(e, 'error')];
    throw e;
  }
}

/** Everything `l2tpsec check` reports for one config file's text. */
export function checkConfig(text: string, file: string, env: CheckEnv): CheckResult {
  const { problems, config } = configProblems(text, file);
  const lines = keyLines(text);
  const keyLine = (key: string): number | undefined => lines.get(key);
  let users = 0;
  if (config) {
    if (!problems.some((p) => p.key?.startsWith('ipsec.psk'))) problems.push(...pskProblems(config.ipsec.psk, config.file, keyLine('ipsec.psk') ?? keyLine('ipsec.psk_file')));
    problems.push(...dnsProblems(config, keyLine('ppp.dns')));
    if (config.control.group && config.control.socket && env.groupExists?.(config.control.group) === false) {
      problems.push({ severity: 'error', file: config.file, line: keyLine('control.group'), key: 'control.group', message: `no group ${JSON.stringify(config.control.group)} on this host (create it with groupadd, or leave control.group out)` });
    }
    if (config.nat.outInterface !== 'auto' && env.interfaceExists(config.nat.outInterface) === false) {
      problems.push({ severity: 'warning', file: config.file, line: keyLine('nat.out_interface'), key: 'nat.out_interface', message: `no interface ${JSON.stringify(config.nat.outInterface)} on this host (fine if it appears before the daemon starts)` });
    }
    problems.push(...limitsProblems(config, keyLine));
    problems.push(...ikev2Problems(config, env));
    problems.push(...radiusProblems(config, keyLine));
    // with RADIUS and no fallback the users file is not used for logins
    const usersNeeded = !config.radius.enabled || config.radius.fallbackToUsersFile;
    let usersText: string | undefined;
    try {
      usersText = env.readFile(config.ppp.usersFile);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ENOENT' && !usersNeeded) usersText = undefined;
      else problems.push({
        severity: code === 'ENOENT' || !usersNeeded ? 'warning' : 'error',
        file: config.ppp.usersFile,
        line: undefined,
        key: undefined,
        message: code === 'ENOENT' ? 'no users file yet: nobody can log in (l2tpsec users add NAME)' : `cannot read: ${(e as Error).message}`,
      });
    }
    if (usersText !== undefined) {
      const u = usersProblems(usersText, config.ppp.usersFile);
      problems.push(...u.problems);
      problems.push(...staticAddressProblems(config, u.store, usersText));
      users = u.store.reduce((n, s) => n + s.size, 0);
      if (users === 0 && u.problems.length === 0 && usersNeeded) problems.push({ severity: 'warning', file: config.ppp.usersFile, line: undefined, key: undefined, message: 'no users: nobody can log in' });
    }
  }
  const errors = problems.filter((p) => p.severity === 'error').length;
  return { problems, errors, warnings: problems.length - errors, config, users };
}

/** The real environment: files from disk, interfaces from /sys/class/net. */
export const hostCheckEnv: CheckEnv = {
  readFile: (p) => readFileSync(p, 'utf8'),
  interfaceExists: (name) => (existsSync('/sys/class/net') ? existsSync(`/sys/class/net/${name}`) : undefined),
  groupExists: (name) => {
    if (/^\d+$/.test(name)) return true;
    try {
      execFileSync('getent', ['group', name], { stdio: 'ignore', timeout: 5000 });
      return true;
    } catch (e) {
      // getent exits 2 for "not found"; anything else (no getent) cannot tell
      return (e as { status?: number }).status === 2 ? false : undefined;
    }
  },
};

export function formatProblem(p: Problem): string {
  return `${p.severity}: ${p.file}${p.line !== undefined ? `:${p.line}` : ''}: ${p.key ? `${p.key}: ` : ''}${p.message}`;
}
