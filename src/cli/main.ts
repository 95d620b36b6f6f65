#!/usr/bin/env node
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, serverTunnelAddress } from '../daemon/config.js';
import { staticAddressProblem } from '../daemon/check.js';
import { CliError, UsageError } from './errors.js';
import { loadUsers, saveUsers } from '../daemon/users.js';
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

export { initDefaultConfig, randomSecret } from './serve.js';

async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      'log-format': { type: 'string' },
      'log-level': { type: 'string' },
    },
  });
  const { serveCommand } = await import('./serve.js');
  return serveCommand({ config: configPath(values.config), logFormat: values['log-format'], logLevel: values['log-level'] });
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
        const bad = values.address !== undefined ? staticAddressProblem(cfg, values.address) : undefined;
        if (bad) throw new CliError(`--address: ${bad}`, `a free address inside ${cfg.ppp.pool} other than ${serverTunnelAddress(cfg)}`);
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
    if (e instanceof CliError && !(e instanceof UsageError)) {
      process.stderr.write(`l2tpsec: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`);
      return e.exitCode;
    }
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`l2tpsec: ${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    const hint = (e as { hint?: unknown }).hint;
    process.stderr.write(`l2tpsec: ${(e as Error).message}\n${typeof hint === 'string' ? `hint: ${hint}\n` : ''}`);
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
