#!/usr/bin/env -S node --max-semi-space-size=1 --interrupt-budget=1000000
// The node flags above (README, Performance):
// --max-semi-space-size=1: V8's young generation at most 1 MiB per semi-space instead of
// 16. During a burst of handshakes the default one grows to its maximum and keeps those
// pages; capped, the daemon's RSS with a thousand sessions is about a third lower and its
// CPU per handshake and per packet no higher.
// --interrupt-budget=1000000 (V8's default 67584): a function is handed to the optimizing
// compiler after about 15 times as much of its bytecode has run. The data path's functions
// run millions of times and are optimized within its first second all the same (upstream
// about 2% more CPU per packet in interleaved runs, downstream no different); the
// handshake's hundreds of functions, which run a few times per handshake, are mostly left
// to the baseline tiers, where they cost less than optimizing them would: a
// thousand handshakes cost a fresh daemon about 0.2 ms of CPU less each, and a session
// about 2 KiB less.
// The systemd unit and the Docker image run this file, so they get them too.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Argument, Command, CommanderError, Option } from 'commander';
import { ConfigError } from '../daemon/config.js';
import { PROFILE_KINDS, PROFILE_TYPES } from '../daemon/profiles/index.js';
import { CliError } from './errors.js';
import { configPath, DEFAULT_CONFIG, wholeNumber, type ControlOptions, type Io, type ProfileOptions, type UsersOptions } from './common.js';

export { configPath, DEFAULT_CONFIG } from './common.js';
export { initDefaultConfig, randomSecret } from './serve.js';

function version(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [resolve(here, '../../package.json'), resolve(here, '../../../package.json')]) {
    if (existsSync(p)) return (JSON.parse(readFileSync(p, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}

const CONFIG_HELP = `config file (default ${DEFAULT_CONFIG}, or $L2TPSEC_CONFIG)`;
const configOption = (): Option => new Option('-c, --config <file>', CONFIG_HELP);
const jsonOption = (): Option => new Option('--json', 'JSON on stdout (errors too: {"error": ...})');
const socketOption = (): Option => new Option('--socket <path>', 'control socket (default: control.socket of the config, /run/l2tpsec/control.sock)');

/**
 * The whole command line, one declaration per command: usage, `--help` of every
 * command and the parsing come from here (commander). Each action stores its exit code.
 */
export function buildProgram(io: Io, setCode: (code: number) => void): Command {
  const program = new Command('l2tpsec');
  program
    .description('L2TP/IPsec VPN server')
    .configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s), outputError: () => undefined })
    .exitOverride()
    .showSuggestionAfterError(true)
    .helpCommand('help [command]', 'help for a command')
    .addHelpText(
      'after',
      `
"serve" with no config file creates one (random pre-shared key, first user); on a
terminal it prints them once, otherwise it writes them to initial-credentials.txt
(mode 0600) next to the config. Passwords are read from stdin when it is not a
terminal, else asked for twice. Exit codes: 0 ok, 1 the operation failed, 2 bad usage.
Every command answers --help.`,
    );
  const done = (p: Promise<number> | number): Promise<void> => Promise.resolve(p).then(setCode);

  program
    .command('serve')
    .description('run the VPN server (creates the config on the first start)')
    .addOption(configOption())
    .addOption(new Option('--log-format <format>', 'log format (default: log.format of the config)').choices(['json', 'pretty']))
    .addOption(new Option('--log-level <level>', 'least level logged (default: log.level of the config)').choices(['debug', 'info', 'warn', 'error']))
    .action(async (o: { config?: string; logFormat?: string; logLevel?: string }) => {
      const { serveCommand } = await import('./serve.js');
      await done(serveCommand({ config: configPath(o.config), logFormat: o.logFormat, logLevel: o.logLevel }));
    });

  const users = program.command('users').description('manage the users file (NT hashes, never passwords; IKEv2 keys)');
  users
    .command('add')
    .description('add a user; the password is read from stdin or asked for twice')
    .argument('<name>', 'user name: letters, digits and . _ @ + - (at most 64)')
    .addOption(configOption())
    .option('--address <a.b.c.d>', 'static address from the pool')
    .option('--max-sessions <n>', 'concurrent sessions (overrides ppp.max_sessions_per_user; 0 = unlimited)', wholeNumber('--max-sessions', 0))
    .option('--ikev2-psk', "also give the user an IKEv2 pre-shared key, generated and printed once (the identifier is the user's name)")
    .option('--ikev2-psk-file <file>', "also give the user an IKEv2 pre-shared key, read from the file's first line (16 characters or more)")
    .addOption(jsonOption())
    .action(async (name: string, o: UsersOptions) => done((await import('./users.js')).usersAdd(name, o, io)));
  users
    .command('passwd')
    .description("change a user's password, or with --ikev2-psk* only the IKEv2 pre-shared key")
    .argument('<name>', 'user name')
    .addOption(configOption())
    .option('--ikev2-psk', 'set a new generated IKEv2 pre-shared key, printed once (the password stays)')
    .option('--ikev2-psk-file <file>', "set the IKEv2 pre-shared key from the file's first line (the password stays)")
    .option('--remove-ikev2-psk', 'remove the IKEv2 pre-shared key (the password stays)')
    .addOption(jsonOption())
    .action(async (name: string, o: UsersOptions) => done((await import('./users.js')).usersPasswd(name, o, io)));
  users
    .command('del')
    .description('delete a user (its sessions run on until "l2tpsec disconnect USER")')
    .argument('<name>', 'user name')
    .addOption(configOption())
    .addOption(jsonOption())
    .action(async (name: string, o: UsersOptions) => done((await import('./users.js')).usersDel(name, o, io)));
  users
    .command('list')
    .description('list the users')
    .addOption(configOption())
    .addOption(jsonOption())
    .action(async (o: UsersOptions) => done((await import('./users.js')).usersList(o, io)));

  program
    .command('check')
    .description('validate the config and users file without starting; every problem with file, line and key')
    .addOption(configOption())
    .addOption(jsonOption())
    .action(async (o: { config?: string; json?: boolean }) => done((await import('./doctor.js')).checkCommand(configPath(o.config), o.json === true, io)));

  const cert = program.command('cert').description('certificates for the IKEv2 side');
  cert
    .command('init')
    .description('create a CA and a server certificate: ca.crt, ca.key, server.crt, server.key next to the config')
    .requiredOption('--name <host>', 'the host name the devices dial (SAN dNSName and CN)')
    .option('--ip <address>', 'an IPv4 address the devices may dial instead (SAN iPAddress; repeatable)', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--days <n>', 'server certificate validity in days (default and most: 825, what Apple accepts)', wholeNumber('--days', 1))
    .option('--key-bits <n>', 'RSA key size of the CA and server keys: 2048, 3072 (default) or 4096', wholeNumber('--key-bits', 2048))
    .option('--intermediate', 'an intermediate CA between the CA and the server certificate (server.crt then holds both)')
    .option('--force', 'overwrite existing files')
    .addOption(configOption())
    .action(async (o: { name: string; ip?: string[]; days?: number; keyBits?: number; intermediate?: boolean; force?: boolean; config?: string }) =>
      done((await import('./cert.js')).certInitCommand(configPath(o.config), o, io)),
    );

  program
    .command('doctor')
    .description('look at the host: ports, forwarding, nftables, TUN, routes, firewall, xfrm')
    .addOption(configOption())
    .addOption(jsonOption())
    .action(async (o: { config?: string; json?: boolean }) => done((await import('./doctor.js')).doctorCommand(configPath(o.config), o.json === true, io)));

  const control = (name: string, description: string, extra?: (c: Command) => Command, args = ''): void => {
    let c = program.command(name).description(description);
    if (args) c = c.argument(args, args === '<target>' ? 'a user name or a session id (as "l2tpsec sessions" lists them)' : '');
    c.addOption(configOption()).addOption(socketOption());
    if (name !== 'events') c.addOption(jsonOption());
    if (extra) c = extra(c);
    c.action(async (...a: unknown[]) => {
      const positional = args ? (a[0] as string) : undefined;
      const o = a[args ? 1 : 0] as ControlOptions;
      const { controlCommand } = await import('./control-commands.js');
      await done(controlCommand(name, { ...o, target: positional }, configPath, io.out));
    });
  };
  control('status', 'the server: listen addresses, PSK fingerprint, pool use, counters, every session');
  control('sessions', 'one line per session');
  control('disconnect', 'end the sessions of a user, or one session (PPP Terminate, CDN, IKE Delete)', undefined, '<target>');
  control('history', 'ended sessions, newest first (reads the history file when the daemon is not running)', (c) =>
    c.option('--user <name>', 'only this user').option('--limit <n>', 'at most n entries', wholeNumber('--limit', 1)),
  );
  control('reload', 're-read the users file (same as SIGHUP); the rest of the config needs a restart');
  control('events', 'follow session and SA events, one JSON object per line');

  program
    .command('profile')
    .description("write what a client device needs: an IKEv2 or L2TP/IPsec profile (an L2TP one holds the PSK; the user's password is never in it)")
    .addArgument(new Argument('<kind>', 'client kind').choices([...PROFILE_KINDS]))
    .argument('<user>', 'user name (must exist)')
    .addOption(configOption())
    .option('--server <host>', "address or name clients dial (IKEv2: default the server certificate's name; L2TP: server.listen unless 0.0.0.0)")
    .option('--name <name>', 'connection name on the device')
    .option('-o, --out <file>', 'write to FILE (mode 0600) instead of stdout')
    .addOption(new Option('--type <type>', 'ikev2 or l2tp (default: ikev2 when [ikev2] enabled = true, else l2tp)').choices([...PROFILE_TYPES]))
    .option('--ca <file>', 'IKEv2: the CA certificate to put in the profile (default: ca.crt next to the config)')
    .option('--no-ca', "IKEv2: no CA in the profile (the server's chain is publicly trusted)")
    .option('--sswan', "android, IKEv2: the strongSwan app's .sswan file instead of the built-in client's steps")
    .option('--psk', 'android, IKEv2: steps for "IKEv2/IPSec PSK" with a per-user key (l2tpsec users add NAME --ikev2-psk)')
    .option('--qr <url>', 'IKEv2, with --out: print a QR code of URL, where you serve the file, for the device to scan')
    .action(async (kind: string, user: string, o: ProfileOptions) => done((await import('./profile.js')).profileCommand(kind, user, { ...o, configFile: configPath(o.config) }, io)));

  program
    .command('version')
    .description('print the version')
    .action(() => {
      io.out.write(`l2tpsec ${version()}\n`);
      setCode(0);
    });
  program.version(`l2tpsec ${version()}`, '-V, --version', 'print the version');
  return program;
}

/** The command words of argv ("users add"), for "see: l2tpsec users add --help". */
function commandPath(program: Command, argv: string[]): string {
  const words: string[] = [];
  let cmd: Command | undefined = program;
  for (const a of argv) {
    const sub: Command | undefined = cmd?.commands.find((c) => c.name() === a);
    if (!sub) break;
    words.push(a);
    cmd = sub;
  }
  return ['l2tpsec', ...words].join(' ');
}

interface Failure {
  message: string;
  hint: string | undefined;
  code: number;
}

/** One line and a hint for whatever went wrong, and its exit code. */
export function describeFailure(e: unknown, where: string): Failure {
  if (e instanceof CommanderError) {
    return { message: e.message.replace(/^error: /, ''), hint: `see: ${where} --help`, code: 2 };
  }
  if (e instanceof CliError) return { message: e.message, hint: e.hint ?? (e.exitCode === 2 ? `see: ${where} --help` : undefined), code: e.exitCode };
  const errno = (e as NodeJS.ErrnoException).code;
  const message = e instanceof Error ? e.message : String(e);
  const hintOf = (text: string, code: string | undefined): string | undefined => {
    if (code === 'EACCES' || code === 'EPERM' || /\bEACCES\b|\bEPERM\b/.test(text)) return 'run as root or as a member of control.group';
    if (code === 'EADDRINUSE' || /\bEADDRINUSE\b/.test(text)) return 'another process holds the port: see l2tpsec doctor';
    return undefined;
  };
  if (e instanceof ConfigError) {
    const missing = /\bENOENT\b/.test(e.problem);
    return {
      message: `config error: ${e.message}`,
      hint: hintOf(e.problem, undefined) ?? (missing ? `give the config with --config FILE, or create it with: l2tpsec serve --config ${e.file}` : `l2tpsec check --config ${e.file} lists every problem`),
      code: 1,
    };
  }
  const hint = (e as { hint?: unknown }).hint;
  return { message, hint: typeof hint === 'string' ? hint : hintOf(message, errno), code: 1 };
}

export async function main(argv: string[], io: Io = { out: process.stdout, err: process.stderr }): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => (code = c));
  const json = argv.includes('--json');
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return 2;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError && (e.code === 'commander.helpDisplayed' || e.code === 'commander.version')) return 0;
    if (e instanceof CommanderError && e.code === 'commander.help') return 2;
    const f = describeFailure(e, commandPath(program, argv));
    if (json) io.out.write(JSON.stringify({ error: f.message, ...(f.hint ? { hint: f.hint } : {}) }) + '\n');
    else io.err.write(`l2tpsec: ${f.message}\n${f.hint ? `hint: ${f.hint}\n` : ''}`);
    return f.code;
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
