import { loadConfig, serverTunnelAddress, type Config } from '../daemon/config.js';
import { staticAddressProblem } from '../daemon/check.js';
import { checkNewUserName, loadUsers, saveUsers, type UserStore } from '../daemon/users.js';
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

async function saved(cfg: Config, store: UserStore, o: UsersOptions, io: Io, what: string, result: Record<string, unknown>): Promise<number> {
  await saveUsers(cfg.ppp.usersFile, store);
  const reload = cfg.control.socket ? await reloadIfRunning(cfg.control.socket) : undefined;
  if (o.json) io.out.write(JSON.stringify({ ...result, usersFile: cfg.ppp.usersFile, ...(reload !== undefined ? { reload } : {}) }) + '\n');
  else io.out.write(`${what} ${cfg.ppp.usersFile}\n${reload !== undefined ? `${reload}\n` : ''}`);
  return 0;
}

export async function usersAdd(name: string, o: UsersOptions, io: Io): Promise<number> {
  const bad = checkNewUserName(name);
  if (bad) throw new UsageError(`user name ${JSON.stringify(name)}: ${bad}`);
  const { cfg, store } = await open(o);
  if (store.has(name)) throw new CliError(`user ${JSON.stringify(name)} exists`, `to change the password: l2tpsec users passwd ${name}`);
  if (o.address !== undefined) {
    const problem = staticAddressProblem(cfg, o.address);
    if (problem) throw new CliError(`--address: ${problem}`, `a free address inside ${cfg.ppp.pool} other than ${serverTunnelAddress(cfg)}`);
    const taken = store.list().find((u) => u.address === o.address);
    if (taken) throw new CliError(`--address: ${o.address} is already the static address of ${JSON.stringify(taken.name)}`, 'l2tpsec users list shows the addresses in use');
  }
  const password = await newPassword(name, io);
  store.add(name, password, { ...(o.address !== undefined ? { address: o.address } : {}), ...(o.maxSessions !== undefined ? { maxSessions: o.maxSessions } : {}) });
  return saved(cfg, store, o, io, `added ${name} to`, { added: name });
}

export async function usersPasswd(name: string, o: UsersOptions, io: Io): Promise<number> {
  const { cfg, store } = await open(o);
  if (!store.has(name)) throw new CliError(`no user ${JSON.stringify(name)}`, 'l2tpsec users list shows them');
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
    for (const u of list) io.out.write(`${u.name}${u.address ? `\taddress=${u.address}` : ''}${u.maxSessions !== undefined ? `\tmax_sessions=${u.maxSessions}` : ''}\n`);
  }
  return 0;
}
