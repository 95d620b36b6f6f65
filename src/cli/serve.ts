import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { certFilePaths, certInit, isHostName } from '../daemon/certs.js';
import { checkConfig, formatProblem, hostCheckEnv } from '../daemon/check.js';
import { loadConfig, readConfigText, type Config } from '../daemon/config.js';
import { createLogger, type Logger } from '../daemon/log.js';
import { loadUsers, saveUsers } from '../daemon/users.js';
import { EnvError, parseFirstRunEnv } from '../daemon/env.js';
import { acquireInstanceLock, checkPortsFree, type InstanceLock } from '../daemon/instance.js';
import { CliError, UsageError } from './errors.js';

/** A random secret of `chars` characters, letters and digits only (easy to type on a phone). */
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

/** Name of the file the first run leaves the generated secrets in when stdout is not a terminal. */
export const CREDENTIALS_FILE = 'initial-credentials.txt';

export interface InitResult {
  /** The users file written next to the config. */
  usersFile: string;
  /** Where the generated secrets were written (mode 0600) instead of printed; undefined when printed or none. */
  credentialsFile: string | undefined;
  /** The CA certificate the devices need for IKEv2; undefined when none was made. */
  caFile: string | undefined;
}

/** The name the first run puts in the server certificate: the host's, when a certificate can carry it. */
export function certHostName(name: string = hostname()): string {
  return isHostName(name) ? name : 'l2tpsec';
}

/**
 * First run: write a config with a random PSK and a first user, and hand the secrets
 * over once. On a terminal they are printed; otherwise (systemd, Docker: stdout is kept
 * for good in the journal or `docker logs`) they go to a 0600 file next to the config,
 * and only its path is printed. hwdsl2/setup-ipsec-vpn's VPN_* variables, when set,
 * replace the random values (see src/daemon/env.ts); secrets from the environment are
 * never written out again.
 */
export async function initDefaultConfig(
  file: string,
  env: Record<string, string | undefined> = process.env,
  out: NodeJS.WritableStream = process.stdout,
  opts: { tty?: boolean; hostname?: string } = {},
): Promise<InitResult> {
  const tty = opts.tty ?? (out as { isTTY?: boolean }).isTTY === true;
  const fromEnv = parseFirstRunEnv(env);
  const psk = fromEnv.psk ?? randomSecret(24);
  const users = fromEnv.users.length > 0 ? fromEnv.users : [{ name: 'vpnuser', password: randomSecret(16) }];
  const dns = fromEnv.dns ?? ['1.1.1.1', '9.9.9.9'];
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // the IKEv2 side: a CA and a server certificate for this host, unless some are there already
  const listen = '0.0.0.0';
  const certName = certHostName(opts.hostname);
  const { paths, existing } = certFilePaths(file);
  let caFile: string | undefined;
  let ikev2 = true;
  if (existing.length === 0) {
    await certInit(file, { name: certName, ips: listen === '0.0.0.0' ? [] : [listen] });
    caFile = paths['ca.crt'];
  } else {
    // certificates left from before: used when the server's pair is there, never overwritten
    ikev2 = existsSync(paths['server.crt']) && existsSync(paths['server.key']);
    caFile = ikev2 && existsSync(paths['ca.crt']) ? paths['ca.crt'] : undefined;
  }
  const text = `# l2tpsec configuration (created by the first "l2tpsec serve")
[server]
listen = ${JSON.stringify(listen)}            # UDP 500 and 4500
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
[ikev2]
enabled = ${ikev2}${ikev2 ? '' : '              # server.crt or server.key is missing: l2tpsec cert init --name HOST'}
certificate = "server.crt"    # PEM chain, relative to this file; "l2tpsec cert init" writes it
private_key = "server.key"
`;
  writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
  const cfg = loadConfig(file);
  const store = await loadUsers(cfg.ppp.usersFile);
  for (const u of users) store.add(u.name, u.password, {});
  await saveUsers(cfg.ppp.usersFile, store);
  const first = users[0]!;
  const secrets =
    `  IPsec pre-shared key: ${fromEnv.psk !== undefined ? '(from VPN_IPSEC_PSK)' : psk}\n` +
    `  username:             ${first.name}${users.length > 1 ? ` (+${users.length - 1} from VPN_ADDL_USERS)` : ''}\n` +
    `  password:             ${fromEnv.users.length > 0 ? '(from VPN_PASSWORD)' : first.password}\n`;
  const caLine = caFile ? `IKEv2 (Android 12+, iOS, macOS, Windows): install ${caFile} on the devices, server ${certName}, the same username and password.\n` : '';
  const generated = fromEnv.psk === undefined || fromEnv.users.length === 0;
  if (tty || !generated) {
    out.write(`Created ${file} and ${cfg.ppp.usersFile}.${generated ? ' Shown once, keep them:' : ''}\n${secrets}${caLine}Add users with: l2tpsec users add NAME --config ${file}\n\n`);
    return { usersFile: cfg.ppp.usersFile, credentialsFile: undefined, caFile };
  }
  const credentialsFile = join(dirname(file), CREDENTIALS_FILE);
  writeFileSync(credentialsFile, `# Generated by the first "l2tpsec serve" for ${file}.\n# Keep them elsewhere, then delete this file.\n${secrets}${caLine}`, { mode: 0o600 });
  chmodSync(credentialsFile, 0o600);
  out.write(`Created ${file} and ${cfg.ppp.usersFile}; the generated pre-shared key and password are in ${credentialsFile} (mode 0600, not printed here): read it once, then delete it.\n${caLine}`);
  return { usersFile: cfg.ppp.usersFile, credentialsFile, caFile };
}

export interface ServeOptions {
  config: string;
  logFormat?: string | undefined;
  logLevel?: string | undefined;
  /** Where the refusal lines go (default stderr). */
  err?: NodeJS.WritableStream;
}

/**
 * Everything `serve` does before it touches the host: the instance lock, the first run
 * (config and users file created), the checks `l2tpsec check` makes (every error
 * printed, then refused), the ports. Returns what the daemon needs.
 */
export async function prepareServe(o: ServeOptions): Promise<{ cfg: Config; log: Logger; lock: InstanceLock; warnings: string[] }> {
  const err = o.err ?? process.stderr;
  const file = o.config;
  if (o.logFormat !== undefined && o.logFormat !== 'json' && o.logFormat !== 'pretty') throw new UsageError('--log-format must be json or pretty');
  if (o.logLevel !== undefined && !['debug', 'info', 'warn', 'error'].includes(o.logLevel)) throw new UsageError('--log-level must be debug, info, warn or error');
  const lock = await acquireInstanceLock({ config: file, tun: '' });
  try {
    let init: InitResult | undefined;
    if (!existsSync(file)) {
      try {
        init = await initDefaultConfig(file);
      } catch (e) {
        if (e instanceof EnvError) throw new CliError(`first run: ${e.message}`, 'the VPN_* variables are read only on the first start; see "Coming from hwdsl2/setup-ipsec-vpn" in the README');
        throw e;
      }
    }
    const text = readConfigText(file);
    const r = checkConfig(text, file, hostCheckEnv);
    if (r.errors > 0) {
      for (const p of r.problems) err.write(formatProblem(p) + '\n');
      throw new CliError(`${file}: ${r.errors} error${r.errors > 1 ? 's' : ''}: not starting`, 'fix them (l2tpsec check lists them too), then start again');
    }
    const cfg = loadConfig(file);
    lock.info.tun = cfg.tun.name;
    const format = (o.logFormat ?? cfg.log.format) as Config['log']['format'];
    const level = (o.logLevel ?? cfg.log.level) as Config['log']['level'];
    const log = createLogger({ level, format });
    if (init?.caFile) log.info('init.ca', { file: init.caFile, hint: 'the CA certificate IKEv2 devices install' });
    if (init?.credentialsFile) log.warn('init.credentials', { file: init.credentialsFile, hint: 'the generated pre-shared key and password: read the file once, then delete it' });
    for (const p of r.problems) log.warn('config.warning', { problem: formatProblem(p) });
    await checkPortsFree(cfg.server.listen, [cfg.server.ikePort, cfg.server.nattPort]);
    return { cfg, log, lock, warnings: r.problems.map(formatProblem) };
  } catch (e) {
    await lock.release();
    throw e;
  }
}

/** `l2tpsec serve`: runs until SIGINT/SIGTERM; SIGHUP reloads the users file (checked first). */
export async function serveCommand(o: ServeOptions): Promise<number> {
  const { cfg, log, lock } = await prepareServe(o);
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
      .then(() => lock.release())
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
    await lock.release();
    log.flush();
    const message = (e as Error).message;
    // /proc/sys is read-only in a container: Docker sets forwarding (docker run --sysctl)
    const hint = /EROFS.*ip_forward/.test(message) ? 'in a container, start it with --sysctl net.ipv4.ip_forward=1' : 'see: l2tpsec doctor';
    throw new CliError(message, hint);
  }
  return await new Promise<number>(() => undefined); // runs until a signal
}
