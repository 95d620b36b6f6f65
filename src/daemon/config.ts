import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { formatIPv4, parseCidr, parseIPv4 } from '../core/ipv4.js';
import type { PipelineLimits } from '../session/pipeline.js';

/**
 * The daemon's configuration, read from one TOML file. Every key has a default,
 * so `l2tpsec serve` works with a minimal file. One zod schema (rawSchema) declares
 * each key with its type, default and checks; every problem is reported at once,
 * each naming the file, the line and the key.
 */
export interface Config {
  /** Absolute path of the file it was read from ('' for defaults). */
  file: string;
  server: {
    listen: string;
    hostname: string;
    ikePort: number;
    nattPort: number;
    /** Receive and send buffer of the UDP sockets, bytes (the kernel caps it at net.core.rmem_max/wmem_max unless we are root). */
    socketBuffer: number;
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
  /** What one address, identity or user may hold (README "Security"). */
  limits: PipelineLimits;
  /** The IKEv2 side: certificate chain and key (absolute paths), our ID ('' = from the certificate). */
  ikev2: {
    enabled: boolean;
    certificate: string;
    privateKey: string;
    localId: string;
    allowModp1024: boolean;
  };
  /** RADIUS (README "RADIUS"): on when servers are listed; secrets read from their files. */
  radius: RadiusConfig;
}

export interface RadiusConfig {
  enabled: boolean;
  servers: Array<{ address: string; authPort: number; acctPort: number; secret: string }>;
  nasIdentifier: string;
  /** '' = server.listen unless that is 0.0.0.0 (then none is sent). */
  nasIpAddress: string;
  /** Seconds before the first retransmission (doubled on each). */
  timeout: number;
  /** Transmissions to one server before the next is tried. */
  retries: number;
  /** Seconds between Interim-Updates when RADIUS sends no Acct-Interim-Interval; 0 = none unless RADIUS asks. */
  interimInterval: number;
  fallbackToUsersFile: boolean;
  requireMessageAuthenticator: boolean;
  /** "address:port" of the RFC 5176 listener; '' = off. */
  dynauthListen: string;
  dynauthClients: Array<{ address: string; secret: string }>;
  /** Accounting-Requests not yet delivered (absolute path). */
  spoolFile: string;
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

export const DEFAULT_CONTROL_SOCKET = '/run/l2tpsec/control.sock';

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v !== null && typeof v === 'object') return 'a table';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function isIPv4(v: string): boolean {
  try {
    parseIPv4(v);
    return true;
  } catch {
    return false;
  }
}

// ---- the schema: every key once, with its type, default and checks ------------------

const str = (def: string): z.ZodDefault<z.ZodString> => z.string({ error: (i) => `must be a string, got ${describe(i.input)}` }).default(def);
const bool = (def: boolean): z.ZodDefault<z.ZodBoolean> => z.boolean({ error: (i) => `must be true or false, got ${describe(i.input)}` }).default(def);
const int = (def: number, min: number, max: number): z.ZodDefault<z.ZodNumber> =>
  z
    .number({ error: (i) => `must be an integer, got ${describe(i.input)}` })
    .int({ error: (i) => `must be an integer, got ${describe(i.input)}` })
    .min(min, { error: (i) => `must be between ${min} and ${max}, got ${String(i.input)}` })
    .max(max, { error: (i) => `must be between ${min} and ${max}, got ${String(i.input)}` })
    .default(def);
const strList = (def: string[]): z.ZodDefault<z.ZodArray<z.ZodString>> =>
  z.array(z.string(), { error: (i) => `must be a list of strings, got ${describe(i.input)}` }).default(def);
const ipv4 = (def: string): z.ZodDefault<z.ZodString> =>
  z
    .string({ error: (i) => `must be a string, got ${describe(i.input)}` })
    .refine(isIPv4, { error: (i) => `not an IPv4 address: ${JSON.stringify(i.input)}` })
    .default(def);
const strType = (): z.ZodString => z.string({ error: (i) => `must be a string, got ${describe(i.input)}` });
const section = <S extends z.ZodRawShape>(name: string, shape: S) =>
  z.strictObject(shape, { error: (i) => (i.code === 'invalid_type' ? `must be a table ([${name}])` : undefined) }).prefault({} as never);

const rawSchema = z.strictObject({
  server: section('server', {
    listen: ipv4('0.0.0.0'),
    hostname: str('l2tpsec').refine((h) => h.length >= 1 && h.length <= 255, { error: 'must be 1 to 255 characters' }),
    ike_port: int(500, 1, 65535),
    natt_port: int(4500, 1, 65535),
    socket_buffer: int(4 << 20, 65536, 1 << 30),
  }).superRefine((s, ctx) => {
    // leaving out both (defaults 500 and 4500) lets the rest be checked
    if (s.ike_port === s.natt_port) ctx.addIssue({ code: 'custom', path: ['natt_port'], message: 'must differ from server.ike_port', params: { leaveOut: ['ike_port', 'natt_port'] } });
  }),
  ipsec: section('ipsec', {
    psk: str(''),
    psk_file: str(''),
    ike_lifetime_max: int(86400, 60, 7 * 86400),
    child_lifetime_max: int(28800, 60, 7 * 86400),
    dpd_idle: int(30, 0, 3600),
    allow_legacy: bool(false),
  }),
  l2tp: section('l2tp', {
    secret: str(''),
    hello_interval: int(60, 0, 3600),
  }),
  ppp: section('ppp', {
    pool: str('10.40.0.0/24').superRefine((pool, ctx) => {
      try {
        if (parseCidr(pool).prefix > 30) ctx.addIssue({ code: 'custom', message: 'the pool needs at least a /30' });
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
      }
    }),
    // public resolvers, as the first run writes: nothing answers DNS on the tunnel address
    dns: strList(['1.1.1.1', '9.9.9.9'])
      .refine((l) => l.length <= 2, { error: 'at most two DNS servers (IPCP options 129 and 131)' })
      .superRefine((l, ctx) => {
        for (const s of l) if (!isIPv4(s)) ctx.addIssue({ code: 'custom', message: `not an IPv4 address: ${JSON.stringify(s)}` });
      }),
    users_file: str('users.toml'),
    max_sessions_per_user: int(2, 0, 10000),
    idle_timeout: int(3600, 0, 30 * 86400),
    mru: int(1360, 576, 1500),
    auth: z
      .array(z.enum(['mschapv2', 'pap'], { error: (i) => `unknown method ${JSON.stringify(i.input)} (known: mschapv2, pap)` }), {
        error: (i) => `must be a list of strings, got ${describe(i.input)}`,
      })
      .min(1, { error: 'at least one method' })
      .default(['mschapv2']),
  }),
  tun: section('tun', {
    name: strType().regex(/^[A-Za-z0-9_.-]{1,15}$/, { error: 'an interface name: 1 to 15 letters, digits, "_", "." or "-"' }).default('tun1'),
    mtu: int(1400, 576, 1500),
  }),
  nat: section('nat', {
    masquerade: bool(true),
    out_interface: str('auto').refine((v) => v === 'auto' || /^[A-Za-z0-9_.@-]{1,15}$/.test(v), { error: '"auto" or an interface name' }),
    client_to_client: bool(false),
  }),
  log: section('log', {
    level: z.enum(['debug', 'info', 'warn', 'error'], { error: (i) => `one of debug, info, warn, error, got ${describe(i.input)}` }).default('info'),
    format: z.enum(['json', 'pretty'], { error: (i) => `json or pretty, got ${describe(i.input)}` }).default('json'),
  }),
  control: section('control', {
    socket: str(DEFAULT_CONTROL_SOCKET),
    group: str('').refine((g) => g === '' || /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/.test(g), { error: 'a group name' }),
    history_file: str(''),
  }),
  metrics: section('metrics', {
    listen: str('').superRefine((v, ctx) => {
      if (!v) return;
      const m = /^(.+):(\d{1,5})$/.exec(v);
      const port = m ? Number(m[2]) : 0;
      if (!m || port < 1 || port > 65535) ctx.addIssue({ code: 'custom', message: `"address:port", got ${JSON.stringify(v)}` });
      else if (!isIPv4(m[1]!)) ctx.addIssue({ code: 'custom', message: `not an IPv4 address: ${JSON.stringify(m[1])}` });
    }),
  }),
  limits: section('limits', {
    half_open_per_address: int(10, 1, 100000),
    half_open_total: int(1000, 1, 1000000),
    ike_sas_per_address: int(100, 1, 1000000),
    ike_sas_per_identity: int(1000, 1, 1000000),
    ike_sas_total: int(10000, 1, 1000000),
    child_sas_per_ike_sa: int(8, 1, 1000),
    tunnels_per_address: int(128, 1, 65535),
    tunnels_total: int(10000, 1, 65535),
    sessions_per_tunnel: int(8, 1, 65535),
    sessions_total: int(16384, 1, 1000000),
    auth_failures_before_backoff: int(5, 1, 1000),
    auth_backoff_max: int(300, 1, 86400),
  }),
  ikev2: section('ikev2', {
    enabled: bool(false),
    certificate: str('server.crt').refine((v) => v.length > 0, { error: 'a file name' }),
    private_key: str('server.key').refine((v) => v.length > 0, { error: 'a file name' }),
    local_id: str('').refine((v) => v === '' || isIPv4(v) || /^[A-Za-z0-9_.-]{1,253}$/.test(v), { error: 'an IPv4 address or a host name' }),
    allow_modp1024: bool(true),
  }),
  radius: section('radius', {
    servers: z
      .array(
        z.strictObject(
          {
            address: strType().refine(isIPv4, { error: (i) => `address: not an IPv4 address: ${JSON.stringify(i.input)}` }),
            auth_port: int(1812, 1, 65535),
            acct_port: int(1813, 1, 65535),
            secret: str(''),
            secret_file: str(''),
          },
          { error: (i) => (i.code === 'invalid_type' ? 'each server is a table: { address = "...", secret = "..." }' : undefined) },
        ),
        { error: (i) => `must be a list of tables, got ${describe(i.input)}` },
      )
      .default([])
      .superRefine((list, ctx) => {
        list.forEach((s, i) => {
          // path [i]: the message names the server and its line (issueErrors)
          if (s.secret && s.secret_file) ctx.addIssue({ code: 'custom', path: [i], message: 'set either secret or secret_file, not both' });
          else if (!s.secret && !s.secret_file) ctx.addIssue({ code: 'custom', path: [i], message: 'a shared secret is required (secret = "..." or secret_file = "path")' });
          if (s.auth_port === s.acct_port) ctx.addIssue({ code: 'custom', path: [i], message: 'auth_port and acct_port must differ' });
          for (let j = 0; j < i; j++) {
            const o = list[j]!;
            if (o.address === s.address && (o.auth_port === s.auth_port || o.acct_port === s.acct_port || o.auth_port === s.acct_port || o.acct_port === s.auth_port))
              ctx.addIssue({ code: 'custom', path: [i], message: `uses a port of server ${j + 1}` });
          }
        });
      }),
    nas_identifier: str('').refine((v) => v.length <= 253, { error: 'at most 253 characters' }),
    nas_ip_address: str('').refine((v) => v === '' || isIPv4(v), { error: (i) => `not an IPv4 address: ${JSON.stringify(i.input)}` }),
    timeout: int(3, 1, 60),
    retries: int(3, 1, 10),
    interim_interval: int(0, 0, 86400).refine((v) => v === 0 || v >= 60, { error: '0 (only when RADIUS asks) or at least 60 seconds' }),
    fallback_to_users_file: bool(false),
    require_message_authenticator: bool(true),
    dynauth_listen: str('').superRefine((v, ctx) => {
      if (!v) return;
      const m = /^(.+):(\d{1,5})$/.exec(v);
      const port = m ? Number(m[2]) : 0;
      if (!m || port < 1 || port > 65535) ctx.addIssue({ code: 'custom', message: `"address:port" (RFC 5176 uses 3799), got ${JSON.stringify(v)}` });
      else if (!isIPv4(m[1]!)) ctx.addIssue({ code: 'custom', message: `not an IPv4 address: ${JSON.stringify(m[1])}` });
    }),
    dynauth_clients: z
      .array(
        z.strictObject(
          {
            address: strType().refine(isIPv4, { error: (i) => `address: not an IPv4 address: ${JSON.stringify(i.input)}` }),
            secret: str(''),
            secret_file: str(''),
          },
          { error: (i) => (i.code === 'invalid_type' ? 'each client is a table: { address = "...", secret = "..." }' : undefined) },
        ),
        { error: (i) => `must be a list of tables, got ${describe(i.input)}` },
      )
      .default([])
      .superRefine((list, ctx) => {
        list.forEach((c, i) => {
          if (c.secret && c.secret_file) ctx.addIssue({ code: 'custom', path: [i], message: 'set either secret or secret_file, not both' });
          else if (!c.secret && !c.secret_file) ctx.addIssue({ code: 'custom', path: [i], message: 'a shared secret is required (secret = "..." or secret_file = "path")' });
        });
      }),
    spool_file: str(''),
  }).superRefine((r, ctx) => {
    if (r.servers.length === 0 && (r.dynauth_listen || r.dynauth_clients.length > 0)) ctx.addIssue({ code: 'custom', path: ['servers'], message: 'dynauth needs RADIUS servers listed' });
    if (r.dynauth_listen && r.dynauth_clients.length === 0) ctx.addIssue({ code: 'custom', path: ['dynauth_clients'], message: 'dynauth_listen is set: list the clients allowed to send Disconnect-Request' });
  }),
});

type Raw = z.output<typeof rawSchema>;

/** The Config for validated raw values; relative paths resolved against `dir` (kept relative without one). */
function toConfig(r: Raw, file: string, dir: string | undefined): Config {
  const at = (p: string): string => (dir === undefined || isAbsolute(p) ? p : resolve(dir, p));
  const usersFile = at(r.ppp.users_file);
  return {
    file,
    server: { listen: r.server.listen, hostname: r.server.hostname, ikePort: r.server.ike_port, nattPort: r.server.natt_port, socketBuffer: r.server.socket_buffer },
    ipsec: { psk: r.ipsec.psk, ikeLifetimeMax: r.ipsec.ike_lifetime_max, childLifetimeMax: r.ipsec.child_lifetime_max, dpdIdle: r.ipsec.dpd_idle, allowLegacy: r.ipsec.allow_legacy },
    l2tp: { secret: r.l2tp.secret || undefined, helloInterval: r.l2tp.hello_interval },
    ppp: {
      pool: r.ppp.pool,
      dns: r.ppp.dns,
      usersFile,
      maxSessionsPerUser: r.ppp.max_sessions_per_user,
      idleTimeout: r.ppp.idle_timeout,
      mru: r.ppp.mru,
      auth: r.ppp.auth,
    },
    tun: { name: r.tun.name, mtu: r.tun.mtu },
    nat: { masquerade: r.nat.masquerade, outInterface: r.nat.out_interface, clientToClient: r.nat.client_to_client },
    log: { level: r.log.level, format: r.log.format },
    control: {
      socket: r.control.socket ? at(r.control.socket) : '',
      group: r.control.group,
      // the history file lives next to the users file unless set
      historyFile: r.control.history_file ? at(r.control.history_file) : dir === undefined ? 'history.jsonl' : resolve(dirname(usersFile), 'history.jsonl'),
    },
    metrics: { listen: r.metrics.listen },
    limits: {
      halfOpenPerAddress: r.limits.half_open_per_address,
      halfOpenTotal: r.limits.half_open_total,
      ikeSasPerAddress: r.limits.ike_sas_per_address,
      ikeSasPerIdentity: r.limits.ike_sas_per_identity,
      ikeSasTotal: r.limits.ike_sas_total,
      childSasPerIkeSa: r.limits.child_sas_per_ike_sa,
      tunnelsPerAddress: r.limits.tunnels_per_address,
      tunnelsTotal: r.limits.tunnels_total,
      sessionsPerTunnel: r.limits.sessions_per_tunnel,
      sessionsTotal: r.limits.sessions_total,
      authFailuresBeforeBackoff: r.limits.auth_failures_before_backoff,
      authBackoffMax: r.limits.auth_backoff_max,
    },
    ikev2: {
      enabled: r.ikev2.enabled,
      certificate: at(r.ikev2.certificate),
      privateKey: at(r.ikev2.private_key),
      localId: r.ikev2.local_id,
      allowModp1024: r.ikev2.allow_modp1024,
    },
    radius: {
      enabled: r.radius.servers.length > 0,
      // secrets from secret_file are read by validateConfig
      servers: r.radius.servers.map((s) => ({ address: s.address, authPort: s.auth_port, acctPort: s.acct_port, secret: s.secret })),
      nasIdentifier: r.radius.nas_identifier || r.server.hostname,
      nasIpAddress: r.radius.nas_ip_address || (r.server.listen === '0.0.0.0' ? '' : r.server.listen),
      timeout: r.radius.timeout,
      retries: r.radius.retries,
      interimInterval: r.radius.interim_interval,
      fallbackToUsersFile: r.radius.fallback_to_users_file,
      requireMessageAuthenticator: r.radius.require_message_authenticator,
      dynauthListen: r.radius.dynauth_listen,
      dynauthClients: r.radius.dynauth_clients.map((c) => ({ address: c.address, secret: c.secret })),
      // beside the history file unless set
      spoolFile: r.radius.spool_file ? at(r.radius.spool_file) : dir === undefined ? 'radius-spool.jsonl' : resolve(dirname(usersFile), 'radius-spool.jsonl'),
    },
  };
}

/** Every config key, "section.key", in schema order. */
export function configKeys(): string[] {
  return Object.keys(rawSchema.shape).flatMap((sec) => KNOWN_KEYS([sec]).map((k) => `${sec}.${k}`));
}

/** Every key at its default (no PSK; relative paths unresolved). */
export function defaultConfig(): Config {
  return toConfig(rawSchema.parse({}), '', undefined);
}

const KNOWN_KEYS = (path: PropertyKey[]): string[] => {
  let s: z.ZodType = rawSchema;
  for (const p of path) {
    const shape = (s as unknown as { shape?: Record<string, z.ZodType> }).shape ?? (s as unknown as { def?: { innerType?: { shape?: Record<string, z.ZodType> } } }).def?.innerType?.shape;
    if (!shape || typeof p !== 'string' || !(p in shape)) return [];
    s = shape[p]!;
  }
  const shape = (s as unknown as { shape?: Record<string, z.ZodType> }).shape ?? (s as unknown as { def?: { innerType?: { shape?: Record<string, z.ZodType> } } }).def?.innerType?.shape ?? {};
  return Object.keys(shape);
};

/** The keys of the table at `path` in the schema; a number in the path is an item of a list of tables. */
const itemKeys = (path: PropertyKey[]): string[] => {
  type Node = { shape?: Record<string, Node>; def?: { innerType?: Node; element?: Node } };
  const open = (n: Node | undefined): Node | undefined => {
    for (let i = 0; n && !n.shape && i < 8; i++) n = n.def?.innerType ?? n.def?.element;
    return n;
  };
  let s: Node | undefined = rawSchema as unknown as Node;
  for (const p of path) {
    s = open(s);
    if (typeof p === 'string') s = s?.shape?.[p];
  }
  return Object.keys(open(s)?.shape ?? {});
};

/** What a list of tables calls its items in messages. */
const ITEM_NAMES: Record<string, string> = { 'radius.servers': 'server', 'radius.dynauth_clients': 'client' };

/**
 * Which line each table of a list starts on (`servers = [\n { ... },\n { ... }\n]`), from
 * the line of its key: the `{` at the list's own depth, outside strings and comments.
 */
function listItemLines(text: string, keyLine: number): number[] {
  const found: number[] = [];
  const src = text.split(/\r?\n/).slice(keyLine - 1);
  let depth = 0;
  let started = false;
  for (let l = 0; l < src.length; l++) {
    const line = src[l]!;
    let i = l === 0 ? line.indexOf('=') + 1 : 0;
    for (; i < line.length; i++) {
      const c = line[i]!;
      if (c === '#') break;
      if (c === '"' || c === "'") {
        for (i++; i < line.length && line[i] !== c; i++) if (c === '"' && line[i] === '\\') i++;
        continue;
      }
      if (c === '[' || c === '{') {
        if (c === '{' && depth === 1) found.push(keyLine + l);
        depth++;
        started = true;
      } else if (c === ']' || c === '}') {
        depth--;
        if (started && depth <= 0) return found;
      }
    }
    if (!started && l > 0) return found;
  }
  return found;
}

/**
 * A validation issue as file:line:key. Keys are "section.key"; a problem inside one table
 * of a list (`radius.servers`) names the item (`server 2 (10.0.0.6): auth_port: ...`) and
 * the line the item starts on.
 */
function issueErrors(iss: z.core.$ZodIssue, file: string, lines: Map<string, number>, root: Record<string, unknown>, text: string): Array<{ error: ConfigError; path: string[] }> {
  const path = iss.path.filter((p): p is string => typeof p === 'string').slice(0, 2);
  const lineOf = (key: string): number | undefined => lines.get(key) ?? lines.get(key.split('.')[0]!);
  const index = iss.path.length >= 3 && typeof iss.path[2] === 'number' && path.length === 2 ? iss.path[2] : undefined;
  if (index !== undefined) {
    const key = path.join('.');
    const list = (root[path[0]!] as Record<string, unknown> | undefined)?.[path[1]!];
    const item = Array.isArray(list) ? (list[index] as Record<string, unknown> | undefined) : undefined;
    const field = typeof iss.path[3] === 'string' ? iss.path[3] : undefined;
    const address = item !== null && typeof item === 'object' && typeof item.address === 'string' && field !== 'address' ? ` (${item.address})` : '';
    const label = `${ITEM_NAMES[key] ?? 'item'} ${index + 1}${address}`;
    const keyLine = lineOf(key);
    const line = keyLine !== undefined && lines.has(key) ? (listItemLines(text, keyLine)[index] ?? keyLine) : keyLine;
    // the list is left out and the rest checked again
    const itemPath = path;
    if (iss.code === 'unrecognized_keys') {
      const known = itemKeys(iss.path);
      return iss.keys.map((k) => ({ error: new ConfigError(file, line, key, `${label}: unknown key ${k} (known: ${known.join(', ')})`), path: itemPath }));
    }
    const msg = field !== undefined && !iss.message.startsWith(`${field}:`) ? `${field}: ${iss.message}` : iss.message;
    return [{ error: new ConfigError(file, line, key, `${label}: ${msg}`), path: itemPath }];
  }
  if (iss.code === 'unrecognized_keys') {
    const known = KNOWN_KEYS(path);
    return iss.keys.map((k) => {
      const key = [...path, k].join('.');
      const problem = path.length === 0 ? `unknown section or key (known sections: ${known.join(', ')})` : `unknown key (known: ${known.join(', ')})`;
      return { error: new ConfigError(file, lineOf(key), key, problem), path: [...path, k] };
    });
  }
  const key = path.join('.');
  const error = new ConfigError(file, lineOf(key), key || undefined, iss.message);
  const leaveOut = iss.code === 'custom' ? (iss.params as { leaveOut?: string[] } | undefined)?.leaveOut : undefined;
  if (leaveOut) return leaveOut.map((k) => ({ error, path: [...path.slice(0, -1), k] }));
  return [{ error, path }];
}

/**
 * Parse and validate config text: the config, or every problem (file, line, key). When
 * there are problems, `config` is what remains with the offending keys left out (their
 * defaults in place), for the checks that look further (`l2tpsec check`).
 */
export function validateConfig(text: string, file: string): { config: Config | undefined; problems: ConfigError[] } {
  const absFile = resolve(file);
  const dir = dirname(absFile);
  let root: Record<string, unknown>;
  try {
    root = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.split('\n')[0] ?? e.message;
      return { config: undefined, problems: [new ConfigError(absFile, e.line, undefined, first.replace(/^Invalid TOML document: /, 'invalid TOML: '))] };
    }
    throw e;
  }
  const lines = keyLines(text);
  const problems: ConfigError[] = [];
  const seen = new Set<string>();
  const add = (e: ConfigError): void => {
    const id = `${e.key ?? ''}\n${e.problem}`;
    if (seen.has(id)) return;
    seen.add(id);
    problems.push(e);
  };
  // each round leaves out what the previous one refused, so checks behind it still run
  for (let round = 0; round < 16; round++) {
    const r = rawSchema.safeParse(root);
    if (!r.success) {
      const input = root;
      for (const iss of r.error.issues) {
        for (const { error, path } of issueErrors(iss, absFile, lines, input, text)) {
          add(error);
          root = without(root, path);
        }
      }
      continue;
    }
    // the PSK: inline or from a file, one of them
    const ipsec = r.data.ipsec;
    const fail = (key: string, problem: string): void => add(new ConfigError(absFile, lines.get(key) ?? lines.get(key.split('.')[0]!), key, problem));
    let psk = ipsec.psk;
    if (ipsec.psk && ipsec.psk_file) fail('ipsec.psk_file', 'set either psk or psk_file, not both');
    else if (ipsec.psk_file) {
      const p = isAbsolute(ipsec.psk_file) ? ipsec.psk_file : resolve(dir, ipsec.psk_file);
      try {
        psk = readFileSync(p, 'utf8').replace(/\r?\n$/, '');
      } catch (e) {
        fail('ipsec.psk_file', `cannot read ${p}: ${(e as Error).message}`);
      }
    }
    if (!psk && !problems.some((p) => p.key === 'ipsec.psk_file')) fail('ipsec.psk', 'a pre-shared key is required (psk = "..." or psk_file = "path")');
    const config = toConfig(r.data, absFile, dir);
    config.ipsec.psk = psk;
    // RADIUS shared secrets: inline or from a file each
    const readSecret = (file: string, key: string, i: number, who: string): string => {
      const p = isAbsolute(file) ? file : resolve(dir, file);
      const keyLine = lines.get(key);
      const at = keyLine !== undefined ? (listItemLines(text, keyLine)[i] ?? keyLine) : lines.get(key.split('.')[0]!);
      try {
        const v = readFileSync(p, 'utf8').replace(/\r?\n$/, '');
        if (!v) add(new ConfigError(absFile, at, key, `${who}: ${p} is empty`));
        return v;
      } catch (e) {
        add(new ConfigError(absFile, at, key, `${who}: cannot read ${p}: ${(e as Error).message}`));
        return '';
      }
    };
    r.data.radius.servers.forEach((s, i) => {
      if (s.secret_file) config.radius.servers[i]!.secret = readSecret(s.secret_file, 'radius.servers', i, `server ${i + 1} (${s.address}): secret_file`);
    });
    r.data.radius.dynauth_clients.forEach((c, i) => {
      if (c.secret_file) config.radius.dynauthClients[i]!.secret = readSecret(c.secret_file, 'radius.dynauth_clients', i, `client ${i + 1} (${c.address}): secret_file`);
    });
    return { config, problems: inSchemaOrder(problems) };
  }
  return { config: undefined, problems: inSchemaOrder(problems) };
}

/** Problems in the order of the sections in the schema (a stable sort: keys keep their order). */
function inSchemaOrder(problems: ConfigError[]): ConfigError[] {
  const sections = Object.keys(rawSchema.shape);
  const rank = (e: ConfigError): number => {
    const i = sections.indexOf((e.key ?? '').split('.')[0]!);
    return i < 0 ? sections.length : i;
  };
  return [...problems].sort((a, b) => rank(a) - rank(b));
}

/** `root` without the value at `path` (a copy; the tables on the way are copied too). */
function without(root: Record<string, unknown>, path: string[]): Record<string, unknown> {
  if (path.length === 0) return root;
  const [head, ...rest] = path;
  const copy = { ...root };
  if (rest.length === 0) delete copy[head!];
  else {
    const inner = copy[head!];
    if (inner !== null && typeof inner === 'object' && !Array.isArray(inner)) copy[head!] = without(inner as Record<string, unknown>, rest);
    else delete copy[head!];
  }
  return copy;
}

/** Parse and validate config text; throws the first problem as a ConfigError. `file` is used for messages and to resolve relative paths. */
export function parseConfig(text: string, file: string): Config {
  const { config, problems } = validateConfig(text, file);
  if (problems.length > 0 || !config) throw problems[0] ?? new ConfigError(resolve(file), undefined, undefined, 'invalid config');
  return config;
}

/** The config file's text; a ConfigError naming the file when it cannot be read. */
export function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(resolve(file), undefined, undefined, `cannot read: ${(e as Error).message}`);
  }
}

export function loadConfig(file: string): Config {
  return parseConfig(readConfigText(file), file);
}

/** The pool's first usable address: the server's tunnel address. */
export function serverTunnelAddress(cfg: Config): string {
  return formatIPv4(parseCidr(cfg.ppp.pool).first + 1);
}
