import dgram from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';
import { readFileSync } from 'node:fs';
import { parseProcNetUdp, type ProcessInfo } from './doctor.js';
import { socketOwners } from './doctor-gather.js';

/**
 * One daemon per network namespace, decided before the host is touched.
 *
 * The TUN, the nftables table "l2tpsec", IPv4 forwarding and UDP 500/4500 are
 * per network namespace, so the lock is too: a listening Unix socket in the
 * abstract namespace ("\0l2tpsec/instance"), which Linux scopes to the network
 * namespace and releases when its process dies (kill -9 included: no stale lock
 * file to clean up). A second `serve` that cannot take it connects to it and
 * gets the running daemon's pid, config file and TUN name for its message.
 */

export const LOCK_NAME = 'l2tpsec/instance';

export interface InstanceInfo {
  pid: number;
  config: string;
  tun: string;
  /** ISO 8601 time the lock was taken. */
  started: string;
}

export class InstanceError extends Error {
  override readonly name: string = 'InstanceError';
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

export interface InstanceLock {
  readonly info: InstanceInfo;
  release(): Promise<void>;
}

/** What a running daemon answered on the lock socket; undefined when it said nothing usable within `timeoutMs`. */
export function queryInstance(name = LOCK_NAME, timeoutMs = 1000): Promise<InstanceInfo | undefined> {
  return new Promise((resolveQuery) => {
    const c = connect(`\0${name}`);
    let text = '';
    const done = (v: InstanceInfo | undefined): void => {
      clearTimeout(timer);
      c.destroy();
      resolveQuery(v);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      text += d;
      if (text.length > 4096) done(undefined);
    });
    c.on('end', () => {
      try {
        const v = JSON.parse(text) as Partial<InstanceInfo>;
        done(typeof v.pid === 'number' ? { pid: v.pid, config: String(v.config ?? ''), tun: String(v.tun ?? ''), started: String(v.started ?? '') } : undefined);
      } catch {
        done(undefined);
      }
    });
    c.on('error', () => done(undefined));
  });
}

export function describeInstance(i: InstanceInfo | undefined): string {
  if (!i) return 'another l2tpsec (it did not say which)';
  return `l2tpsec pid ${i.pid}${i.config ? ` (config ${i.config}` : ' ('}${i.tun ? `, tun ${i.tun}` : ''}${i.started ? `, since ${i.started}` : ''})`;
}

/**
 * Takes this network namespace's instance lock, or throws InstanceError naming the
 * daemon that holds it. `name` is for tests (a private lock name).
 */
export async function acquireInstanceLock(info: Omit<InstanceInfo, 'pid' | 'started'>, name = LOCK_NAME): Promise<InstanceLock> {
  const full: InstanceInfo = { pid: process.pid, started: new Date().toISOString(), ...info };
  const server: Server = createServer((c) => {
    c.on('error', () => undefined);
    c.end(JSON.stringify(full));
  });
  try {
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(`\0${name}`, () => {
        server.off('error', reject);
        resolveListen();
      });
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    const other = await queryInstance(name);
    throw new InstanceError(`${describeInstance(other)} is already running in this network namespace`, 'one daemon per host (or network namespace): stop it first (systemctl stop l2tpsec), or see: l2tpsec status');
  }
  // the lock must not keep the process alive on its own
  server.unref();
  return {
    info: full,
    release: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export interface PortHolder {
  port: number;
  /** Processes holding it (empty when they cannot be seen: not root, or another namespace's view). */
  processes: ProcessInfo[];
}

/** Who holds UDP `port` here, from /proc/net/udp and /proc/PID/fd (root sees every process). */
export function udpPortHolders(port: number): ProcessInfo[] {
  let text: string;
  try {
    text = readFileSync('/proc/net/udp', 'utf8');
  } catch {
    return [];
  }
  const inodes = new Set(parseProcNetUdp(text).filter((s) => s.localPort === port).map((s) => s.inode));
  return [...socketOwners(inodes).values()];
}

function tryBind(address: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolveBind) => {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    s.once('error', (e: NodeJS.ErrnoException) => {
      s.close();
      resolveBind(e);
    });
    s.bind({ address, port, exclusive: true }, () => {
      s.close(() => resolveBind(undefined));
    });
  });
}

/**
 * Binds each port for a moment and lets it go: an EADDRINUSE becomes an InstanceError
 * naming the holder (as `l2tpsec doctor` does); other errors (EACCES, EADDRNOTAVAIL) too.
 */
export async function checkPortsFree(address: string, ports: number[], holders: (port: number) => ProcessInfo[] = udpPortHolders): Promise<void> {
  for (const port of ports) {
    const e = await tryBind(address, port);
    if (!e) continue;
    if (e.code === 'EADDRINUSE') {
      const procs = holders(port);
      const who = procs.length > 0 ? procs.map((p) => `${p.comm} (pid ${p.pid})`).join(', ') : 'another process (run as root to see which)';
      throw new InstanceError(`UDP ${address}:${port} is in use by ${who}`, 'see: l2tpsec doctor');
    }
    if (e.code === 'EACCES') throw new InstanceError(`cannot bind UDP ${address}:${port}: permission denied`, 'run as root or with CAP_NET_BIND_SERVICE (the systemd unit grants it)');
    if (e.code === 'EADDRNOTAVAIL') throw new InstanceError(`cannot bind UDP ${address}:${port}: no such local address`, 'set server.listen to an address of this host, or "0.0.0.0"');
    throw new InstanceError(`cannot bind UDP ${address}:${port}: ${e.message}`, 'see: l2tpsec doctor');
  }
}
