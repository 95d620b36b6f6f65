import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { formatIPv4, parseCidr, parseIPv4 } from '../core/ipv4.js';

/**
 * The daemon's configuration, read from one TOML file. Every key has a default,
 * so `l2tpsec serve` works with a minimal file. Errors name the file, the line
 * and the key.
 */
export interface Config {
  /** Absolute path of the file it was read from ('' for defaults). */
  file: string;
  server: {
    listen: string;
    hostname: string;
    ikePort: number;
    nattPort: number;
  };
  ipsec: {
    psk: string;
    ikeLifetimeMax: number;
    childLifetimeMax: number;
    dpdIdle: number;
    allowLegacy: boolean;
  };
  l2tp: {
    secret: string | undefined;
    helloInterval: number;
  };
  ppp: {
    pool: string;
    dns: string[];
    usersFile: string;
    maxSessionsPerUser: number;
    idleTimeout: number;
    mru: number;
    auth: Array<'mschapv2' | 'pap'>;
  };
  tun: {
    name: string;
    mtu: number;
  };
  nat: {
    masquerade: boolean;
    outInterface: string;
    clientToClient: boolean;
  };
  log: {
    level: 'debug' | 'info' | 'warn' | 'error';
    format: 'json' | 'pretty';
  };
  control: {
    /** Unix socket of the control API ('' = off). */
    socket: string;
    /** Group that may use the socket (chown + mode 0660); '' = root only. */
    group: string;
    /** Ended sessions, one JSON line each; absolute path. */
    historyFile: string;
  };
  metrics: {
    /** "address:port" of the Prometheus endpoint; '' = off. */
    listen: string;
  };
}

export class ConfigError extends Error {
  override readonly name: string = 'ConfigError';
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly key: string | undefined,
    readonly problem: string,
  ) {
    super(`${file}${line !== undefined ? `:${line}` : ''}: ${key ? `${key}: ` : ''}${problem}`);
  }
}

type Table = Record<string, unknown>;

/** Maps "section.key" to the 1-based line where it is set, for error messages. */
export function keyLines(text: string): Map<string, number> {
  const lines = new Map<string, number>();
  let section = '';
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    const sec = /^\[\s*([A-Za-z0-9_.-]+)\s*\]/.exec(line);
    if (sec) {
      section = sec[1]!;
      if (!lines.has(section)) lines.set(section, i + 1);
      return;
    }
    const kv = /^([A-Za-z0-9_-]+)\s*=/.exec(line);
    if (kv) {
      const key = section ? `${section}.${kv[1]}` : kv[1]!;
      if (!lines.has(key)) lines.set(key, i + 1);
    }
  });
  return lines;
}

const KNOWN: Record<string, readonly string[]> = {
  server: ['listen', 'hostname', 'ike_port', 'natt_port'],
  ipsec: ['psk', 'psk_file', 'ike_lifetime_max', 'child_lifetime_max', 'dpd_idle', 'allow_legacy'],
  l2tp: ['secret', 'hello_interval'],
  ppp: ['pool', 'dns', 'users_file', 'max_sessions_per_user', 'idle_timeout', 'mru', 'auth'],
  tun: ['name', 'mtu'],
  nat: ['masquerade', 'out_interface', 'client_to_client'],
  log: ['level', 'format'],
  control: ['socket', 'group', 'history_file'],
  metrics: ['listen'],
};

export const DEFAULT_CONTROL_SOCKET = '/run/l2tpsec/control.sock';

export function defaultConfig(): Config {
  return {
    file: '',
    server: { listen: '0.0.0.0', hostname: 'l2tpsec', ikePort: 500, nattPort: 4500 },
    ipsec: { psk: '', ikeLifetimeMax: 86400, childLifetimeMax: 28800, dpdIdle: 30, allowLegacy: false },
    l2tp: { secret: undefined, helloInterval: 60 },
    ppp: {
      pool: '10.40.0.0/24',
      // public resolvers, as the first run writes: nothing answers DNS on the tunnel address
      dns: ['1.1.1.1', '9.9.9.9'],
      usersFile: 'users.toml',
      maxSessionsPerUser: 2,
      idleTimeout: 3600,
      mru: 1360,
      auth: ['mschapv2'],
    },
    tun: { name: 'tun1', mtu: 1400 },
    nat: { masquerade: true, outInterface: 'auto', clientToClient: false },
    log: { level: 'info', format: 'json' },
    control: { socket: DEFAULT_CONTROL_SOCKET, group: '', historyFile: 'history.jsonl' },
    metrics: { listen: '' },
  };
}

class Checker {
  constructor(
    readonly file: string,
    readonly lines: Map<string, number>,
  ) {}

  fail(key: string, problem: string): never {
    const line = this.lines.get(key) ?? this.lines.get(key.split('.')[0]!);
    throw new ConfigError(this.file, line, key, problem);
  }

  str(t: Table, sec: string, k: string, def: string): string {
    const v = t[k];
    if (v === undefined) return def;
    if (typeof v !== 'string') this.fail(`${sec}.${k}`, `must be a string, got ${describe(v)}`);
    return v;
  }

  int(t: Table, sec: string, k: string, def: number, min: number, max: number): number {
    const v = t[k];
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(`${sec}.${k}`, `must be an integer, got ${describe(v)}`);
    if (v < min || v > max) this.fail(`${sec}.${k}`, `must be between ${min} and ${max}, got ${v}`);
    return v;
  }

  bool(t: Table, sec: string, k: string, def: boolean): boolean {
    const v = t[k];
    if (v === undefined) return def;
    if (typeof v !== 'boolean') this.fail(`${sec}.${k}`, `must be true or false, got ${describe(v)}`);
    return v;
  }

  strList(t: Table, sec: string, k: string, def: string[]): string[] {
    const v = t[k];
    if (v === undefined) return def;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) this.fail(`${sec}.${k}`, `must be a list of strings, got ${describe(v)}`);
    return v as string[];
  }

  ipv4(sec: string, k: string, v: string): void {
    try {
      parseIPv4(v);
    } catch {
      this.fail(`${sec}.${k}`, `not an IPv4 address: ${JSON.stringify(v)}`);
    }
  }
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v !== null && typeof v === 'object') return 'a table';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function section(root: Table, name: string, c: Checker): Table {
  const v = root[name];
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) c.fail(name, 'must be a table ([' + name + '])');
  const t = v as Table;
  for (const k of Object.keys(t)) {
    if (!KNOWN[name]!.includes(k)) c.fail(`${name}.${k}`, `unknown key (known: ${KNOWN[name]!.join(', ')})`);
  }
  return t;
}

/** Parse and validate config text. `file` is used for messages and to resolve relative paths. */
export function parseConfig(text: string, file: string): Config {
  const absFile = resolve(file);
  const dir = dirname(absFile);
  let root: Table;
  try {
    root = parseToml(text) as Table;
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.split('\n')[0] ?? e.message;
      throw new ConfigError(absFile, e.line, undefined, first.replace(/^Invalid TOML document: /, 'invalid TOML: '));
    }
    throw e;
  }
  const c = new Checker(absFile, keyLines(text));
  for (const k of Object.keys(root)) {
    if (!(k in KNOWN)) c.fail(k, `unknown section or key (known sections: ${Object.keys(KNOWN).join(', ')})`);
  }
  const d = defaultConfig();
  const cfg: Config = { ...d, file: absFile };

  const server = section(root, 'server', c);
  cfg.server = {
    listen: c.str(server, 'server', 'listen', d.server.listen),
    hostname: c.str(server, 'server', 'hostname', d.server.hostname),
    ikePort: c.int(server, 'server', 'ike_port', d.server.ikePort, 1, 65535),
    nattPort: c.int(server, 'server', 'natt_port', d.server.nattPort, 1, 65535),
  };
  c.ipv4('server', 'listen', cfg.server.listen);
  if (cfg.server.hostname.length === 0 || cfg.server.hostname.length > 255) c.fail('server.hostname', 'must be 1 to 255 characters');
  if (cfg.server.ikePort === cfg.server.nattPort) c.fail('server.natt_port', 'must differ from server.ike_port');

  const ipsec = section(root, 'ipsec', c);
  let psk = c.str(ipsec, 'ipsec', 'psk', '');
  const pskFile = c.str(ipsec, 'ipsec', 'psk_file', '');
  if (psk && pskFile) c.fail('ipsec.psk_file', 'set either psk or psk_file, not both');
  if (pskFile) {
    const p = isAbsolute(pskFile) ? pskFile : resolve(dir, pskFile);
    try {
      psk = readFileSync(p, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      c.fail('ipsec.psk_file', `cannot read ${p}: ${(e as Error).message}`);
    }
  }
  if (!psk) c.fail('ipsec.psk', 'a pre-shared key is required (psk = "..." or psk_file = "path")');
  cfg.ipsec = {
    psk,
    ikeLifetimeMax: c.int(ipsec, 'ipsec', 'ike_lifetime_max', d.ipsec.ikeLifetimeMax, 60, 7 * 86400),
    childLifetimeMax: c.int(ipsec, 'ipsec', 'child_lifetime_max', d.ipsec.childLifetimeMax, 60, 7 * 86400),
    dpdIdle: c.int(ipsec, 'ipsec', 'dpd_idle', d.ipsec.dpdIdle, 0, 3600),
    allowLegacy: c.bool(ipsec, 'ipsec', 'allow_legacy', d.ipsec.allowLegacy),
  };

  const l2tp = section(root, 'l2tp', c);
  const secret = c.str(l2tp, 'l2tp', 'secret', '');
  cfg.l2tp = {
    secret: secret || undefined,
    helloInterval: c.int(l2tp, 'l2tp', 'hello_interval', d.l2tp.helloInterval, 0, 3600),
  };

  const ppp = section(root, 'ppp', c);
  const pool = c.str(ppp, 'ppp', 'pool', d.ppp.pool);
  try {
    const cidr = parseCidr(pool);
    if (cidr.prefix > 30) c.fail('ppp.pool', 'the pool needs at least a /30');
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    c.fail('ppp.pool', (e as Error).message);
  }
  const dns = c.strList(ppp, 'ppp', 'dns', d.ppp.dns);
  if (dns.length > 2) c.fail('ppp.dns', 'at most two DNS servers (IPCP options 129 and 131)');
  for (const s of dns) c.ipv4('ppp', 'dns', s);
  const usersFile = c.str(ppp, 'ppp', 'users_file', d.ppp.usersFile);
  const auth = c.strList(ppp, 'ppp', 'auth', d.ppp.auth);
  for (const a of auth) if (a !== 'mschapv2' && a !== 'pap') c.fail('ppp.auth', `unknown method ${JSON.stringify(a)} (known: mschapv2, pap)`);
  if (auth.length === 0) c.fail('ppp.auth', 'at least one method');
  cfg.ppp = {
    pool,
    dns,
    usersFile: isAbsolute(usersFile) ? usersFile : resolve(dir, usersFile),
    maxSessionsPerUser: c.int(ppp, 'ppp', 'max_sessions_per_user', d.ppp.maxSessionsPerUser, 0, 10000),
    idleTimeout: c.int(ppp, 'ppp', 'idle_timeout', d.ppp.idleTimeout, 0, 30 * 86400),
    mru: c.int(ppp, 'ppp', 'mru', d.ppp.mru, 576, 1500),
    auth: auth as Array<'mschapv2' | 'pap'>,
  };

  const tun = section(root, 'tun', c);
  cfg.tun = {
    name: c.str(tun, 'tun', 'name', d.tun.name),
    mtu: c.int(tun, 'tun', 'mtu', d.tun.mtu, 576, 1500),
  };
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(cfg.tun.name)) c.fail('tun.name', 'an interface name: 1 to 15 letters, digits, "_", "." or "-"');

  const nat = section(root, 'nat', c);
  cfg.nat = {
    masquerade: c.bool(nat, 'nat', 'masquerade', d.nat.masquerade),
    outInterface: c.str(nat, 'nat', 'out_interface', d.nat.outInterface),
    clientToClient: c.bool(nat, 'nat', 'client_to_client', d.nat.clientToClient),
  };
  if (cfg.nat.outInterface !== 'auto' && !/^[A-Za-z0-9_.@-]{1,15}$/.test(cfg.nat.outInterface)) {
    c.fail('nat.out_interface', '"auto" or an interface name');
  }

  const log = section(root, 'log', c);
  const level = c.str(log, 'log', 'level', d.log.level);
  if (!['debug', 'info', 'warn', 'error'].includes(level)) c.fail('log.level', 'one of debug, info, warn, error');
  const format = c.str(log, 'log', 'format', d.log.format);
  if (format !== 'json' && format !== 'pretty') c.fail('log.format', 'json or pretty');
  cfg.log = { level: level as Config['log']['level'], format: format as Config['log']['format'] };

  const control = section(root, 'control', c);
  const socket = c.str(control, 'control', 'socket', d.control.socket);
  const group = c.str(control, 'control', 'group', d.control.group);
  if (group && !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/.test(group)) c.fail('control.group', 'a group name');
  // the history file lives next to the users file unless set
  const historyFile = c.str(control, 'control', 'history_file', '');
  cfg.control = {
    socket: socket && !isAbsolute(socket) ? resolve(dir, socket) : socket,
    group,
    historyFile: historyFile ? (isAbsolute(historyFile) ? historyFile : resolve(dir, historyFile)) : resolve(dirname(cfg.ppp.usersFile), d.control.historyFile),
  };

  const metrics = section(root, 'metrics', c);
  const mlisten = c.str(metrics, 'metrics', 'listen', d.metrics.listen);
  if (mlisten) {
    const m = /^(.+):(\d{1,5})$/.exec(mlisten);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) c.fail('metrics.listen', `"address:port", got ${JSON.stringify(mlisten)}`);
    c.ipv4('metrics', 'listen', m?.[1] ?? '');
  }
  cfg.metrics = { listen: mlisten };

  return cfg;
}

export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(resolve(file), undefined, undefined, `cannot read: ${(e as Error).message}`);
  }
  return parseConfig(text, file);
}

/** The pool's first usable address: the server's tunnel address. */
export function serverTunnelAddress(cfg: Config): string {
  return formatIPv4(parseCidr(cfg.ppp.pool).first + 1);
}
