/**
 * A real FreeRADIUS for the tests (Debian's `freeradius` package, 3.2.1 on Debian 12):
 * a private configuration written into a temporary directory (nothing of /etc is read
 * but the dictionaries under /usr/share/freeradius), listening on a random high
 * loopback port pair, run in the foreground (-X) as a child process and stopped by
 * the test. test/interop/setup.sh installs the package for CI (with services kept
 * from starting, so no system FreeRADIUS holds 1812).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const FREERADIUS = ['/usr/sbin/freeradius', '/usr/sbin/radiusd'].find((p) => existsSync(p));

/** Why FreeRADIUS cannot run here (no binary, not installable), or undefined when it can. */
export function freeradiusUnavailable(): string | undefined {
  if (!FREERADIUS) return 'freeradius is not installed (Debian package freeradius; test/interop/setup.sh installs it)';
  const v = spawnSync(FREERADIUS, ['-v'], { encoding: 'utf8' });
  if (v.status !== 0 && !/FreeRADIUS Version/.test(v.stdout + v.stderr)) return `${FREERADIUS} -v failed: ${v.stderr.trim()}`;
  return undefined;
}

export function freeradiusVersion(): string {
  const v = spawnSync(FREERADIUS!, ['-v'], { encoding: 'utf8' });
  return /FreeRADIUS Version ([\d.]+)/.exec(v.stdout + v.stderr)?.[1] ?? 'unknown';
}

/** The line the README tells operators of FreeRADIUS before 3.2.5 to add (authorize section of sites-enabled/default). */
export const README_SETTING = 'update reply { &Message-Authenticator := 0x00 }';

export interface FreeRadiusUser {
  name: string;
  password: string;
  /** Reply attributes, FreeRADIUS syntax ("Framed-IP-Address = 10.0.0.9"). */
  reply?: string[];
  /** More check items ("Simultaneous-Use := 1"). */
  check?: string[];
}

export interface FreeRadiusOptions {
  secret: string;
  users: FreeRadiusUser[];
  /**
   * The README's setting: a Message-Authenticator in every Access-Accept and -Reject
   * (FreeRADIUS before 3.2.5 sends none with MS-CHAP). False shows the default.
   */
  messageAuthenticator: boolean;
  /**
   * Simultaneous-Use: the radutmp session database, fed by accounting (Start/Stop keyed by
   * NAS-IP-Address and NAS-Port) and checked after authentication; the NAS type "other"
   * makes FreeRADIUS trust it without asking the NAS (checkrad).
   */
  sessionDb?: boolean;
  /** Run inside this network namespace (`ip netns exec`), on `port` and port + 1 there (default 1812). */
  netns?: string;
  port?: number;
}

export interface FreeRadius {
  dir: string;
  authPort: number;
  acctPort: number;
  /** Everything FreeRADIUS printed (its -X debug log). */
  log(): string;
  /** The accounting detail file's text ('' before the first record). */
  detail(): string;
  stop(): Promise<void>;
}

/** Two free consecutive UDP ports on 127.0.0.1 (bound and released: a small race, checked again by FreeRADIUS's bind). */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    const ok = await Promise.all([port, port + 1].map((p) => canBind(p)));
    if (ok.every(Boolean)) return port;
  }
  throw new Error('no free UDP port pair on 127.0.0.1');
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function usersFile(users: FreeRadiusUser[]): string {
  return users
    .map((u) => {
      const head = [`${u.name} Cleartext-Password := "${u.password}"`, ...(u.check ?? [])].join(', ');
      const reply = (u.reply ?? []).map((r) => `\t${r}`).join(',\n');
      return reply ? `${head}\n${reply}\n` : `${head}\n`;
    })
    .join('\n');
}

/** The whole configuration: one radiusd.conf with the client, the modules and the one virtual server. */
function radiusdConf(dir: string, port: number, o: FreeRadiusOptions): string {
  // The README's one line, first in authorize: the reply list it adds to is the one of
  // the Access-Accept and of the Access-Reject alike, and FreeRADIUS computes the value.
  const ma = o.messageAuthenticator ? `\t\t${README_SETTING}\n` : '';
  return `# written by test/radius/freeradius.ts
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
datarootdir = /usr/share
dictdir = /usr/share/freeradius
libdir = /usr/lib/freeradius
logdir = ${dir}/log
raddbdir = ${dir}
confdir = ${dir}
modconfdir = ${dir}
radacctdir = ${dir}/radacct
run_dir = ${dir}/run
db_dir = ${dir}
name = radiusd
pidfile = ${dir}/run/radiusd.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no

log {
	destination = stdout
	colourise = no
	file = ${dir}/log/radius.log
	auth = yes
	auth_badpass = no
	auth_goodpass = no
}

security {
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = yes
	allow_vulnerable_openssl = yes
}

proxy_requests = no

thread pool {
	start_servers = 1
	max_servers = 2
	min_spare_servers = 1
	max_spare_servers = 2
	max_requests_per_server = 0
}

client localhost {
	ipaddr = 127.0.0.0/8
	secret = ${o.secret}
	require_message_authenticator = yes
	nas_type = other
}

modules {
	files {
		filename = ${dir}/users
		usersfile = ${dir}/users
	}
	mschap {
		use_mppe = yes
		require_encryption = no
		require_strong = no
		with_ntdomain_hack = yes
	}
	pap {
	}
${o.sessionDb ? `	radutmp {
		filename = ${dir}/radutmp
		username = %{User-Name}
		case_sensitive = yes
		check_with_nas = no
		permissions = 0600
		caller_id = yes
	}
` : ''}	detail {
		filename = ${dir}/radacct/detail
		escape_filenames = no
		permissions = 0600
		header = "%t"
	}
}

server default {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = ${port}
	}
	listen {
		type = acct
		ipaddr = 127.0.0.1
		port = ${port + 1}
	}
	authorize {
${ma}		files
		mschap
		pap
	}
	authenticate {
		Auth-Type MS-CHAP {
			mschap
		}
		Auth-Type PAP {
			pap
		}
		mschap
	}
	preacct {
	}
	accounting {
		detail
${o.sessionDb ? '\t\tradutmp\n' : ''}	}
${o.sessionDb ? '\tsession {\n\t\tradutmp\n\t}\n' : ''}
	post-auth {
${o.messageAuthenticator && o.sessionDb ? `\t\tPost-Auth-Type REJECT {\n\t\t\t${README_SETTING}\n\t\t}\n` : ''}	}
}
`;
}

export async function startFreeRadius(o: FreeRadiusOptions): Promise<FreeRadius> {
  const dir = mkdtempSync(join(tmpdir(), 'l2tpsec-freeradius-'));
  for (const d of ['log', 'run', 'radacct']) mkdirSync(join(dir, d));
  writeFileSync(join(dir, 'users'), usersFile(o.users));
  writeFileSync(join(dir, 'dictionary'), '');
  let child: ChildProcess | undefined;
  let output = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    // a namespace of the test's own has every port free: the fixed pair, no probing on the host
    const port = o.netns ? (o.port ?? 1812) : await freePortPair();
    writeFileSync(join(dir, 'radiusd.conf'), radiusdConf(dir, port, o));
    output = '';
    const argv = ['-X', '-d', dir, '-n', 'radiusd'];
    child = o.netns
      ? spawn('ip', ['netns', 'exec', o.netns, FREERADIUS!, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(FREERADIUS!, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const c = child;
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 15_000);
      const on = (b: Buffer): void => {
        output += b.toString();
        if (output.includes('Ready to process requests')) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      c.stdout!.on('data', on);
      c.stderr!.on('data', on);
      c.once('exit', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (ready) {
      const authPort = port;
      return {
        dir,
        authPort,
        acctPort: port + 1,
        log: () => output,
        detail: () => {
          const f = join(dir, 'radacct', 'detail');
          return existsSync(f) ? readFileSync(f, 'utf8') : '';
        },
        stop: () => stopChild(c).then(() => rmSync(dir, { recursive: true, force: true })),
      };
    }
    await stopChild(c);
    // a port taken between our check and FreeRADIUS's bind: try another pair; anything else is fatal
    if (o.netns || !/Address already in use|Failed binding/i.test(output)) break;
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`FreeRADIUS did not start:\n${output.slice(-4000)}`);
}

function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    c.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    c.kill('SIGTERM');
  });
}

/**
 * The FreeRADIUS of the two-server tests: alice limited to one session across every NAS
 * (Simultaneous-Use := 1, checked in FreeRADIUS's session database), bob unlimited.
 */
export function startSimultaneousUseRadius(secret: string): Promise<FreeRadius> {
  return startFreeRadius({
    secret,
    users: [
      { name: 'alice', password: 'alice password 1', check: ['Simultaneous-Use := 1'] },
      { name: 'bob', password: 'bob password 12' },
    ],
    messageAuthenticator: true,
    sessionDb: true,
  });
}
