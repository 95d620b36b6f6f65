#!/usr/bin/env node
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../daemon/config.js';
import { createLogger } from '../daemon/log.js';
import { loadUsers, saveUsers } from '../daemon/users.js';
import { parseFirstRunEnv } from '../daemon/env.js';
import { readPassword } from './password.js';
import { CONTROL_USAGE, controlCommand, reloadIfRunning } from './control-commands.js';
import { PROFILE_USAGE, profileCommand } from './profile.js';
import { checkCommand, doctorCommand } from './doctor.js';

export const DEFAULT_CONFIG = '/etc/l2tpsec/l2tpsec.toml';

const USAGE = `l2tpsec — L2TP/IPsec VPN server

Usage:
  l2tpsec serve [--config FILE] [--log-format json|pretty] [--log-level LEVEL]
  l2tpsec users add NAME [--config FILE] [--address A.B.C.D] [--max-sessions N]
  l2tpsec users passwd NAME [--config FILE]
  l2tpsec users del NAME [--config FILE]
  l2tpsec users list [--config FILE] [--json]
  l2tpsec check [--config FILE] [--json]
  l2tpsec doctor [--config FILE] [--json]
  ${CONTROL_USAGE}
  ${PROFILE_USAGE}
  l2tpsec version

The config file defaults to ${DEFAULT_CONFIG} (or $L2TPSEC_CONFIG).
"serve" with no config file at all creates one with a random pre-shared key and a
first user, and prints both once.
Passwords are read from stdin when it is not a terminal, else asked for twice.
`;

class UsageError extends Error {}

function version(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [resolve(here, '../../package.json'), resolve(here, '../../../package.json')]) {
    if (existsSync(p)) return (JSON.parse(readFileSync(p, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}

function configPath(v: string | undefined): string {
  return resolve(v ?? process.env['L2TPSEC_CONFIG'] ?? DEFAULT_CONFIG);
}

/** A random secret of `n` bytes, written with letters and digits only (easy to type on a phone). */
export function randomSecret(chars: number): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  const out: string[] = [];
  while (out.length < chars) {
    for (const b of randomBytes(chars * 2)) {
      // rejection sampling keeps the distribution uniform
      if (b < 256 - (256 % alphabet.length) && out.length < chars) out.push(alphabet[b % alphabet.length]!);
    }
  }
  return out.join('');
}

/**
 * First run: write a config with a random PSK and a first user; print them once.
 * hwdsl2/setup-ipsec-vpn's VPN_* variables, when set, replace the random values
 * (see src/daemon/env.ts); secrets that came from the environment are not printed.
 */
export async function initDefaultConfig(file: string, env: Record<string, string | undefined> = process.env, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const fromEnv = parseFirstRunEnv(env);
  const psk = fromEnv.psk ?? randomSecret(24);
  const users = fromEnv.users.length > 0 ? fromEnv.users : [{ name: 'vpnuser', password: randomSecret(16) }];
  const dns = fromEnv.dns ?? ['1.1.1.1', '9.9.9.9'];
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const text = `# l2tpsec configuration (created by the first "l2tpsec serve")
[server]
listen = "0.0.0.0"            # UDP 500 and 4500
hostname = "l2tpsec"          # L2TP host name
[ipsec]
psk = ${JSON.stringify(psk)}
[ppp]
pool = "10.40.0.0/24"         # first address is the server's tunnel address
dns = [${dns.map((d) => JSON.stringify(d)).join(', ')}]
users_file = "users.toml"     # relative to this file
max_sessions_per_user = 2
idle_timeout = 3600
[tun]
name = "tun1"
[nat]
masquerade = true
out_interface = "auto"        # the interface of the default route
`;
  writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
  const cfg = loadConfig(file);
  const store = await loadUsers(cfg.ppp.usersFile);
  for (const u of users) store.add(u.name, u.password, {});
  await saveUsers(cfg.ppp.usersFile, store);
  const first = users[0]!;
  out.write(
    `Created ${file} and ${cfg.ppp.usersFile}. Shown once, keep them:\n` +
      `  IPsec pre-shared key: ${fromEnv.psk !== undefined ? '(from VPN_IPSEC_PSK)' : psk}\n` +
      `  username:             ${first.name}${users.length > 1 ? ` (+${users.length - 1} from VPN_ADDL_USERS)` : ''}\n` +
      `  password:             ${fromEnv.users.length > 0 ? '(from VPN_PASSWORD)' : first.password}\n` +
      `Add users with: l2tpsec users add NAME --config ${file}\n\n`,
  );
}

async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      'log-format': { type: 'string' },
      'log-level': { type: 'string' },
    },
  });
  const file = configPath(values.config);
  if (!existsSync(file)) {
    if (values.config) throw new ConfigError(file, undefined, undefined, 'no such file');
    await initDefaultConfig(file);
  }
  const cfg: Config = loadConfig(file);
  const format = values['log-format'] ?? cfg.log.format;
  if (format !== 'json' && format !== 'pretty') throw new UsageError('--log-format must be json or pretty');
  const level = values['log-level'] ?? cfg.log.level;
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new UsageError('--log-level must be debug, info, warn or error');
  const log = createLogger({ level: level as Config['log']['level'], format });
  const users = await loadUsers(cfg.ppp.usersFile);
  const { Daemon } = await import('../daemon/daemon.js');
  const daemon = new Daemon(cfg, users, log);
  let stopping = false;
  let control: { close(): Promise<void> } | undefined;
  let metrics: { close(): Promise<void> } | undefined;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    Promise.all([control?.close(), metrics?.close()])
      .catch(() => undefined)
      .then(() => daemon.stop(signal))
      .catch((e: unknown) => log.error('daemon.stop.error', { error: (e as Error).message }))
      .finally(() => {
        log.flush();
        process.exit(0);
      });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => {
    daemon.reload().catch((e: unknown) => log.error('users.reload.error', { error: (e as Error).message }));
  });
  try {
    await daemon.start();
    if (cfg.control.socket) {
      const { ControlServer } = await import('../daemon/control.js');
      const server = new ControlServer(daemon, log);
      control = server;
      // the VPN works without it: a socket that cannot be created is only a warning
      server.listen(cfg.control.socket, cfg.control.group).then(
        () => log.info('control.listen', { socket: cfg.control.socket }),
        (e: unknown) => log.warn('control.listen.error', { socket: cfg.control.socket, error: (e as Error).message }),
      );
    }
    if (cfg.metrics.listen) {
      const { MetricsServer } = await import('../daemon/metrics.js');
      const server = new MetricsServer(daemon);
      metrics = server;
      server.listen(cfg.metrics.listen).then(
        () => log.info('metrics.listen', { listen: cfg.metrics.listen }),
        (e: unknown) => log.warn('metrics.listen.error', { listen: cfg.metrics.listen, error: (e as Error).message }),
      );
    }
  } catch (e) {
    log.error('daemon.start.error', { error: (e as Error).message });
    await daemon.stop('start failed').catch(() => undefined);
    log.flush();
    process.stderr.write(`l2tpsec: ${(e as Error).message}\n`);
    return 1;
  }
  return await new Promise<number>(() => undefined); // runs until a signal
}

async function users(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      address: { type: 'string' },
      'max-sessions': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const cfg = loadConfig(configPath(values.config));
  const store = await loadUsers(cfg.ppp.usersFile);
  const name = positionals[0];
  switch (sub) {
    case 'add':
    case 'passwd': {
      if (!name) throw new UsageError(`users ${sub} needs a NAME`);
      if (sub === 'add' && store.get(name)) throw new UsageError(`user ${JSON.stringify(name)} exists (use "users passwd")`);
      if (sub === 'passwd' && !store.get(name)) throw new UsageError(`no user ${JSON.stringify(name)}`);
      const password = await readPassword(`Password for ${name}: `);
      if (sub === 'add') {
        const maxSessions = values['max-sessions'] !== undefined ? Number(values['max-sessions']) : undefined;
        if (maxSessions !== undefined && (!Number.isInteger(maxSessions) || maxSessions < 0)) throw new UsageError('--max-sessions must be a whole number');
        store.add(name, password, { address: values.address, maxSessions });
      } else {
        store.passwd(name, password);
      }
      await saveUsers(cfg.ppp.usersFile, store);
      process.stdout.write(`${sub === 'add' ? 'added' : 'changed password of'} ${name} in ${cfg.ppp.usersFile}\n`);
      if (cfg.control.socket) process.stdout.write(`${await reloadIfRunning(cfg.control.socket)}\n`);
      return 0;
    }
    case 'del': {
      if (!name) throw new UsageError('users del needs a NAME');
      if (!store.del(name)) throw new UsageError(`no user ${JSON.stringify(name)}`);
      await saveUsers(cfg.ppp.usersFile, store);
      process.stdout.write(`deleted ${name} from ${cfg.ppp.usersFile}\n`);
      if (cfg.control.socket) process.stdout.write(`${await reloadIfRunning(cfg.control.socket)}\n`);
      return 0;
    }
    case 'list': {
      const list = store.list();
      if (values.json) {
        process.stdout.write(JSON.stringify(list.map((u) => ({ name: u.name, address: u.address ?? null, max_sessions: u.maxSessions ?? null }))) + '\n');
      } else {
        for (const u of list) {
          process.stdout.write(`${u.name}${u.address ? `\taddress=${u.address}` : ''}${u.maxSessions !== undefined ? `\tmax_sessions=${u.maxSessions}` : ''}\n`);
        }
      }
      return 0;
    }
    default:
      throw new UsageError(`unknown users command ${JSON.stringify(sub ?? '')}: add, passwd, del or list`);
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'serve':
        return await serve(rest);
      case 'users':
        return await users(rest);
      case 'check':
        return checkCommand(rest, configPath);
      case 'doctor':
        return await doctorCommand(rest, configPath);
      case 'status':
      case 'sessions':
      case 'disconnect':
      case 'history':
      case 'reload':
      case 'events':
        return await controlCommand(cmd, rest, configPath);
      case 'profile':
        return await profileCommand(rest, configPath);
      case 'version':
      case '--version':
        process.stdout.write(`l2tpsec ${version()}\n`);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
    }
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`l2tpsec: config error: ${e.message}\n`);
      return 1;
    }
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`l2tpsec: ${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    process.stderr.write(`l2tpsec: ${(e as Error).message}\n`);
    return 1;
  }
}

function invokedDirectly(): boolean {
  const arg = process.argv[1];
  if (!arg) return false;
  try {
    return realpathSync(arg) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`l2tpsec: ${(e as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
