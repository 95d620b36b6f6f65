import { randomBytes } from 'node:crypto';
import { chmod, open, readFile, rename, unlink } from 'node:fs/promises';
import { parse as parseToml, stringify as stringifyToml, TomlError } from 'smol-toml';
import { parseIPv4 } from '../core/ipv4.js';
import { ConfigError } from './config.js';
import { ntPasswordHash } from '../ppp/mschapv2.js';
import type { PppUser } from '../ppp/session.js';

/**
 * The user store: one TOML file, only NT hashes (MD4 of the UTF-16LE
 * password, RFC 2759 §8.3), never plaintext passwords.
 *
 *   [users.alice]
 *   nt_hash = "8846f7eaee8fb117ad06bdd830b7586c"
 *   address = "10.40.0.10"     # optional static address
 *   max_sessions = 2           # optional, overrides [ppp] max_sessions_per_user
 *   ikev2_psk = "…"            # optional: the user's own IKEv2 pre-shared key
 *
 * The IKEv2 key is kept as it is, since RFC 7296 §2.15 keys the PRF with the secret
 * itself (prf(prf(key, "Key Pad for IKEv2"), …), with the PRF the client negotiates):
 * no hash of it would do. It lives only here (file mode 0600) and is never shown.
 */

export interface UserEntry {
  name: string;
  /** 16 bytes. */
  ntHash: Buffer;
  address?: string;
  maxSessions?: number;
  /** The user's IKEv2 pre-shared key (its UTF-8 bytes key the PRF). */
  ikev2Psk?: string;
}

export interface UserOptions {
  address?: string;
  maxSessions?: number;
  ikev2Psk?: string;
}

/** Shortest IKEv2 key `users add|passwd` takes: a captured IKE_AUTH lets an active attacker guess offline. */
export const MIN_IKEV2_PSK = 16;
/** Longest IKEv2 key (bytes of UTF-8). */
export const MAX_IKEV2_PSK = 256;

/** An IKEv2 key as the users file may hold it: 1–256 bytes of printable text (what a phone's key field can take). */
export function checkIkev2Psk(key: string): string | undefined {
  if (key.length === 0) return 'ikev2_psk is empty';
  if (Buffer.byteLength(key, 'utf8') > MAX_IKEV2_PSK) return `ikev2_psk longer than ${MAX_IKEV2_PSK} bytes`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(key)) return 'ikev2_psk contains a control character';
  return undefined;
}

/** A new IKEv2 key (`users add|passwd --ikev2-psk`): 24 random bytes, base64url, 32 characters. */
export function generateIkev2Psk(random: (n: number) => Buffer = randomBytes): string {
  return random(24).toString('base64url');
}

/** A problem in the users file, named by file, line and key (as config errors are). */
export class UsersFileError extends ConfigError {
  override readonly name: string = 'UsersFileError';
}

/**
 * A user name as pppd, Windows and Apple clients send it: 1–64 characters,
 * any printable character (spaces, @, \ included), no control characters.
 */
export function checkUserName(name: string): string | undefined {
  const n = [...name].length;
  if (n < 1 || n > 64) return 'user name must be 1–64 characters';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'user name contains a control character';
  if (Buffer.byteLength(name, 'utf8') > 255) return 'user name too long in UTF-8 (over 255 bytes)';
  return undefined;
}

/**
 * A name for a new user (`users add`): what every client can type and send (iOS, Android,
 * Windows and NetworkManager keyboards; L2TP/PPP and MS-CHAPv2 carry it as bytes, some
 * clients mangle spaces, backslashes and non-ASCII): letters, digits and . _ @ + -,
 * starting with a letter or digit, at most 64. Files may hold any name checkUserName allows.
 */
export function checkNewUserName(name: string): string | undefined {
  if (name.length === 0) return 'empty';
  if (name.length > 64) return 'longer than 64 characters';
  if (!/^[A-Za-z0-9]/.test(name)) return 'must start with a letter or a digit';
  const bad = [...name].find((c) => !/[A-Za-z0-9._@+-]/.test(c));
  if (bad !== undefined) return `${JSON.stringify(bad)} is not allowed: use letters, digits and . _ @ + -`;
  return undefined;
}

function checkAddress(a: string): string | undefined {
  try {
    parseIPv4(a);
    return undefined;
  } catch {
    return `not an IPv4 address: ${JSON.stringify(a)}`;
  }
}

function checkMaxSessions(v: number): string | undefined {
  return Number.isInteger(v) && v >= 0 && v <= 10000 ? undefined : 'max_sessions must be an integer 0–10000';
}

export class UserStore {
  private readonly users = new Map<string, UserEntry>();

  get size(): number {
    return this.users.size;
  }

  get(name: string): UserEntry | undefined {
    return this.users.get(name);
  }

  has(name: string): boolean {
    return this.users.has(name);
  }

  /** The entry in the shape PppSession's auth backend returns. */
  lookup(name: string): PppUser | undefined {
    const u = this.users.get(name);
    if (!u) return undefined;
    const p: PppUser = { name: u.name, ntHash: u.ntHash };
    if (u.address !== undefined) p.staticAddress = u.address;
    if (u.maxSessions !== undefined) p.maxSessions = u.maxSessions;
    return p;
  }

  /** Adds a user with a password (only its NT hash is kept). Throws RangeError on a bad name, address or duplicate. */
  add(name: string, password: string, opts: UserOptions = {}): UserEntry {
    if (this.users.has(name)) throw new RangeError(`user ${JSON.stringify(name)} already exists`);
    return this.put(name, ntPasswordHash(password), opts);
  }

  /** Adds or replaces a user from an NT hash (the file loader, imports). */
  put(name: string, ntHash: Buffer, opts: UserOptions = {}): UserEntry {
    const bad = checkUserName(name) ?? (opts.address !== undefined ? checkAddress(opts.address) : undefined) ?? (opts.maxSessions !== undefined ? checkMaxSessions(opts.maxSessions) : undefined);
    if (bad) throw new RangeError(bad);
    if (ntHash.length !== 16) throw new RangeError('NT hash must be 16 bytes');
    if (opts.address !== undefined) {
      for (const u of this.users.values()) {
        if (u.name !== name && u.address === opts.address) throw new RangeError(`address ${opts.address} is already the static address of ${JSON.stringify(u.name)}`);
      }
    }
    if (opts.ikev2Psk !== undefined) {
      const badKey = checkIkev2Psk(opts.ikev2Psk);
      if (badKey) throw new RangeError(badKey);
    }
    const e: UserEntry = { name, ntHash: Buffer.from(ntHash) };
    if (opts.address !== undefined) e.address = opts.address;
    if (opts.maxSessions !== undefined) e.maxSessions = opts.maxSessions;
    if (opts.ikev2Psk !== undefined) e.ikev2Psk = opts.ikev2Psk;
    this.users.set(name, e);
    return e;
  }

  del(name: string): boolean {
    return this.users.delete(name);
  }

  /** Changes a user's password; throws RangeError for an unknown user. */
  passwd(name: string, password: string): void {
    const u = this.users.get(name);
    if (!u) throw new RangeError(`no user ${JSON.stringify(name)}`);
    u.ntHash = ntPasswordHash(password);
  }

  /** Sets (a string) or removes (undefined) a user's IKEv2 key; throws RangeError for an unknown user or a bad key. */
  setIkev2Psk(name: string, key: string | undefined): void {
    const u = this.users.get(name);
    if (!u) throw new RangeError(`no user ${JSON.stringify(name)}`);
    if (key === undefined) {
      delete u.ikev2Psk;
      return;
    }
    const bad = checkIkev2Psk(key);
    if (bad) throw new RangeError(bad);
    u.ikev2Psk = key;
  }

  /** The IKEv2 key of a user, as the PRF takes it; undefined for an unknown user or one without a key. */
  ikev2Key(name: string): Buffer | undefined {
    const k = this.users.get(name)?.ikev2Psk;
    return k === undefined ? undefined : Buffer.from(k, 'utf8');
  }

  list(): UserEntry[] {
    return [...this.users.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Static addresses in use, for AddressPool.setStatic. */
  staticAddresses(): string[] {
    const out: string[] = [];
    for (const u of this.users.values()) if (u.address !== undefined) out.push(u.address);
    return out;
  }
}

/** Maps "users.<name>" and "users.<name>.<key>" to 1-based lines, for error messages. */
export function userLines(text: string): Map<string, number> {
  const lines = new Map<string, number>();
  let section = '';
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    const h = /^\[\s*users\s*\.\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*\]/.exec(line);
    if (h) {
      let name = h[2] ?? h[3] ?? '';
      if (h[1] !== undefined) {
        try {
          name = JSON.parse(`"${h[1]}"`) as string;
        } catch {
          name = h[1];
        }
      }
      section = `users.${name}`;
      if (!lines.has(section)) lines.set(section, i + 1);
      return;
    }
    if (/^\[/.test(line)) {
      section = line.replace(/^\[+\s*|\s*\]+.*$/g, '');
      if (!lines.has(section)) lines.set(section, i + 1);
      return;
    }
    const kv = /^([A-Za-z0-9_-]+)\s*=/.exec(line);
    if (kv && section) {
      const key = `${section}.${kv[1]}`;
      if (!lines.has(key)) lines.set(key, i + 1);
    }
  });
  return lines;
}

const KNOWN_KEYS = new Set(['nt_hash', 'address', 'max_sessions', 'ikev2_psk']);

/** Parse the users file text; errors name the file, line and key. */
export function parseUsers(text: string, file = '<users>'): UserStore {
  let root: Record<string, unknown>;
  try {
    root = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.split('\n')[0] ?? 'invalid TOML';
      throw new UsersFileError(file, e.line, undefined, first.replace(/^Invalid TOML document: /, 'invalid TOML: '));
    }
    throw e;
  }
  const lines = userLines(text);
  const fail = (key: string, problem: string): never => {
    throw new UsersFileError(file, lines.get(key) ?? lines.get(key.split('.').slice(0, 2).join('.')), key, problem);
  };
  const store = new UserStore();
  for (const k of Object.keys(root)) if (k !== 'users') fail(k, 'unknown section (only [users.<name>] tables)');
  const users = root.users ?? {};
  if (typeof users !== 'object' || users === null || Array.isArray(users)) return fail('users', 'must be a table of [users.<name>] tables');
  for (const [name, v] of Object.entries(users as Record<string, unknown>)) {
    const at = `users.${name}`;
    const badName = checkUserName(name);
    if (badName) fail(at, badName);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(at, 'must be a table');
    const t = v as Record<string, unknown>;
    for (const k of Object.keys(t)) if (!KNOWN_KEYS.has(k)) fail(`${at}.${k}`, 'unknown key (known: nt_hash, address, max_sessions, ikev2_psk)');
    const h = t.nt_hash;
    if (h === undefined) fail(at, 'nt_hash is required');
    if (typeof h !== 'string' || !/^[0-9a-fA-F]{32}$/.test(h)) fail(`${at}.nt_hash`, 'must be 32 hex digits (MD4 of the UTF-16LE password)');
    const opts: UserOptions = {};
    if (t.address !== undefined) {
      if (typeof t.address !== 'string') fail(`${at}.address`, 'must be a string');
      const bad = checkAddress(t.address as string);
      if (bad) fail(`${at}.address`, bad);
      opts.address = t.address as string;
    }
    if (t.max_sessions !== undefined) {
      const m = t.max_sessions;
      const n = typeof m === 'bigint' ? Number(m) : m;
      if (typeof n !== 'number' || checkMaxSessions(n)) fail(`${at}.max_sessions`, 'must be an integer 0–10000');
      opts.maxSessions = n as number;
    }
    if (t.ikev2_psk !== undefined) {
      // the problem is named, never the key
      if (typeof t.ikev2_psk !== 'string') fail(`${at}.ikev2_psk`, 'must be a string');
      const bad = checkIkev2Psk(t.ikev2_psk as string);
      if (bad) fail(`${at}.ikev2_psk`, bad);
      opts.ikev2Psk = t.ikev2_psk as string;
    }
    try {
      store.put(name, Buffer.from(h as string, 'hex'), opts);
    } catch (e) {
      fail(opts.address !== undefined ? `${at}.address` : at, (e as Error).message);
    }
  }
  return store;
}

/** Load the users file; a missing file is an empty store. */
export async function loadUsers(path: string): Promise<UserStore> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new UserStore();
    throw new UsersFileError(path, undefined, undefined, `cannot read: ${(e as Error).message}`);
  }
  return parseUsers(text, path);
}

export function formatUsers(store: UserStore): string {
  // A null-prototype object: a user may be called "__proto__".
  const users: Record<string, Record<string, string | number>> = Object.create(null) as Record<string, Record<string, string | number>>;
  for (const u of store.list()) {
    const t: Record<string, string | number> = { nt_hash: u.ntHash.toString('hex') };
    if (u.address !== undefined) t.address = u.address;
    if (u.maxSessions !== undefined) t.max_sessions = u.maxSessions;
    if (u.ikev2Psk !== undefined) t.ikev2_psk = u.ikev2Psk;
    users[u.name] = t;
  }
  const header = '# l2tpsec users: nt_hash = MD4(UTF-16LE(password)), never the plaintext;\n# ikev2_psk = the user\'s own IKEv2 pre-shared key (secret: the PRF needs it as it is).\n# Managed by `l2tpsec users add|del|passwd`; keep this file mode 0600.\n\n';
  return header + (store.size > 0 ? stringifyToml({ users }) + '\n' : '');
}

/** Write the users file atomically (temp file in the same directory, fsync, rename), mode 0600. */
export async function saveUsers(path: string, store: UserStore): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(formatUsers(store), 'utf8');
    await fh.sync();
  } catch (e) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  try {
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}
