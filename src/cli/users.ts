import { loadConfig, serverTunnelAddress, type Config } from '../daemon/config.js';
import { staticAddressProblem } from '../daemon/check.js';
import { readFile } from 'node:fs/promises';
import { checkIkev2Psk, checkNewUserName, generateIkev2Psk, loadUsers, MIN_IKEV2_PSK, saveUsers, type UserStore } from '../daemon/users.js';
import { reloadIfRunning } from './control-commands.js';
import { CliError, UsageError } from './errors.js';
import { configPath, type Io, type UsersOptions } from './common.js';
import { readPassword } from './password.js';

/** Shorter than this, a password is warned about (MS-CHAPv2 handshakes can be attacked offline). */
export const SHORT_PASSWORD = 12;

async function open(o: UsersOptions): Promise<{ cfg: Config; store: UserStore }> {
  const cfg = loadConfig(configPath(o.config));
  return { cfg, store: await loadUsers(cfg.ppp.usersFile) };
}

async function newPassword(name: string, io: Io): Promise<string> {
  const password = await readPassword(`Password for ${name}: `);
  const n = [...password].length;
  if (n < SHORT_PASSWORD) io.err.write(`l2tpsec: warning: a password of ${n} characters can be guessed offline from a captured login; use ${SHORT_PASSWORD} or more\n`);
  return password;
}

/** The IKEv2 key asked for by --ikev2-psk (generated) or --ikev2-psk-file; undefined when neither. */
async function ikev2Key(o: UsersOptions): Promise<{ key: string; generated: boolean } | undefined> {
  if (o.ikev2Psk && o.ikev2PskFile !== undefined) throw new UsageError('--ikev2-psk and --ikev2-psk-file exclude each other');
  if (o.ikev2Psk) return { key: generateIkev2Psk(), generated: true };
  if (o.ikev2PskFile === undefined) return undefined;
  let text: string;
  try {
    text = await readFile(o.ikev2PskFile, 'utf8');
  } catch (e) {
    throw new CliError(`--ikev2-psk-file: cannot read ${o.ikev2PskFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'a file holding the key on one line');
  }
  // one line; its line end is not part of the key (the key itself is never echoed in errors)
  const key = text.replace(/\r?\n$/, '');
  if (/[\r\n]/.test(key)) throw new CliError(`--ikev2-psk-file: ${o.ikev2PskFile} holds more than one line`, 'a file holding the key on one line');
  const bad = checkIkev2Psk(key);
  if (bad) throw new CliError(`--ikev2-psk-file: ${bad.replace(/^ikev2_psk/, 'the key')}`, `printable characters, ${MIN_IKEV2_PSK} or more; or --ikev2-psk to have one made`);
  const n = [...key].length;
  if (n < MIN_IKEV2_PSK) throw new CliError(`--ikev2-psk-file: a key of ${n} characters can be guessed offline from a captured IKE_AUTH`, `use ${MIN_IKEV2_PSK} or more random characters, or --ikev2-psk to have one made`);
  return { key, generated: false };
}

async function saved(cfg: Config, store: UserStore, o: UsersOptions, io: Io, what: string, result: Record<string, unknown>, shown?: { name: string; key: string }): Promise<number> {
  await saveUsers(cfg.ppp.usersFile, store);
  const reload = cfg.control.socket ? await reloadIfRunning(cfg.control.socket) : undefined;
  // a generated key is printed this once (it is in the users file and nowhere else)
  if (o.json) io.out.write(JSON.stringify({ ...result, usersFile: cfg.ppp.usersFile, ...(shown ? { ikev2Psk: shown.key } : {}), ...(reload !== undefined ? { reload } : {}) }) + '\n');
  else {
    io.out.write(`${what} ${cfg.ppp.usersFile}\n${reload !== undefined ? `${reload}\n` : ''}`);
    if (shown) io.out.write(`IKEv2 pre-shared key of ${shown.name} (shown this once; identifier: ${shown.name}):\n${shown.key}\n`);
  }
  return 0;
}

export async function usersAdd(name: string, o: UsersOptions, io: Io): Promise<number> {
  const bad = checkNewUserName(name);
  if (bad) throw new UsageError(`user name ${JSON.stringify(name)}: ${bad}`);
  const { cfg, store } = await open(o);
  if (store.has(name)) throw new CliError(`user ${JSON.stringify(name)} exists`, o.ikev2Psk || o.ikev2PskFile !== undefined ? `to give them an IKEv2 key: l2tpsec users passwd ${name} --ikev2-psk` : `to change the password: l2tpsec users passwd ${name}`);
  if (o.address !== undefined) {
    const problem = staticAddressProblem(cfg, o.address);
    if (problem) throw new CliError(`--address: ${problem}`, `a free address inside ${cfg.ppp.pool} other than ${serverTunnelAddress(cfg)}`);
    const taken = store.list().find((u) => u.address === o.address);
    if (taken) throw new CliError(`--address: ${o.address} is already the static address of ${JSON.stringify(taken.name)}`, 'l2tpsec users list shows the addresses in use');
  }
  const psk = await ikev2Key(o);
  const password = await newPassword(name, io);
  store.add(name, password, { ...(o.address !== undefined ? { address: o.address } : {}), ...(o.maxSessions !== undefined ? { maxSessions: o.maxSessions } : {}), ...(psk ? { ikev2Psk: psk.key } : {}) });
  return saved(cfg, store, o, io, `added ${name} to`, { added: name }, psk?.generated ? { name, key: psk.key } : undefined);
}

/**
 * `users passwd NAME`: a new password; with --ikev2-psk / --ikev2-psk-file only the
 * user's IKEv2 key changes (no password asked), with --remove-ikev2-psk it goes.
 */
export async function usersPasswd(name: string, o: UsersOptions, io: Io): Promise<number> {
  if (o.removeIkev2Psk && (o.ikev2Psk || o.ikev2PskFile !== undefined)) throw new UsageError('--remove-ikev2-psk excludes --ikev2-psk and --ikev2-psk-file');
  const { cfg, store } = await open(o);
  if (!store.has(name)) throw new CliError(`no user ${JSON.stringify(name)}`, 'l2tpsec users list shows them');
  if (o.removeIkev2Psk) {
    store.setIkev2Psk(name, undefined);
    return saved(cfg, store, o, io, `removed the IKEv2 key of ${name} in`, { changed: name });
  }
  const psk = await ikev2Key(o);
  if (psk) {
    store.setIkev2Psk(name, psk.key);
    return saved(cfg, store, o, io, `changed the IKEv2 key of ${name} in`, { changed: name }, psk.generated ? { name, key: psk.key } : undefined);
  }
  store.passwd(name, await newPassword(name, io));
  return saved(cfg, store, o, io, `changed the password of ${name} in`, { changed: name });
}

export async function usersDel(name: string, o: UsersOptions, io: Io): Promise<number> {
  const { cfg, store } = await open(o);
  if (!store.del(name)) throw new CliError(`no user ${JSON.stringify(name)}`, 'l2tpsec users list shows them');
  return saved(cfg, store, o, io, `deleted ${name} from`, { deleted: name });
}

export async function usersList(o: UsersOptions, io: Io): Promise<number> {
  const { store } = await open(o);
  const list = store.list();
  if (o.json) {
    // the same keys as GET /v1/users
    io.out.write(JSON.stringify(list.map((u) => ({ name: u.name, address: u.address ?? null, maxSessions: u.maxSessions ?? null }))) + '\n');
  } else {
    // whether a user has an IKEv2 key, never the key
    for (const u of list) io.out.write(`${u.name}${u.address ? `\taddress=${u.address}` : ''}${u.maxSessions !== undefined ? `\tmax_sessions=${u.maxSessions}` : ''}${u.ikev2Psk !== undefined ? '\tikev2_psk' : ''}\n`);
  }
  return 0;
}
