/**
 * The `radius` scenario: the server checks passwords with a FreeRADIUS started by the
 * harness in the server namespace (a config written here, test/radius/freeradius.ts;
 * the users with their passwords and a Framed-IP-Address; the README's one line that
 * puts a Message-Authenticator in 3.2.1's replies) and accounts there. After the
 * client's stages (L2TP/IPsec, or IKEv2 with EAP-MSCHAPv2 in `ikev2-radius`): its address is the one RADIUS gave, `status` shows the server, the
 * detail file has the Start and an Interim-Update (`interim_interval = 60`, the
 * daemon's smallest), radclient's Disconnect-Request ends the session (the client's
 * pppd sees the hang-up), and the Stop carries byte counts equal to the server's
 * history entry and at least what the client fetched. `radius-wrong-password`: the
 * real client's wrong password is refused through RADIUS (its Access-Reject, the
 * server's ppp.auth.failure, no accounting). Every wait is for a condition, with a
 * bound generous for a busy machine.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checks, guestJob, readIf, SMALL, type Client, type Ctx } from './attempt.js';
import * as g from './guest.js';
import { statusJson } from './operate.js';
import { cli, type ServerSetup } from './server.js';
import { profileOf } from './scenarios.js';
import { run, waitFor } from './util.js';
import { startFreeRadius, type FreeRadius } from '../radius/freeradius.js';

export const RADIUS_SECRET = 'interop-radius-secret-0123456789';
export const DYNAUTH_SECRET = 'interop-dynauth-secret-0123456789';
/** The address FreeRADIUS gives every user (Framed-IP-Address), inside the pool, not the first free one. */
export const RADIUS_ADDRESS = '10.40.0.77';
const DYNAUTH_PORT = 3799;

/** The [radius] section of the scenario's config (appended to serverConfigText's). */
export function radiusConfigText(): string {
  return `[radius]
servers = [{ address = "127.0.0.1", secret = "${RADIUS_SECRET}" }]
nas_identifier = "vpn-1"
nas_ip_address = "127.0.0.1"
timeout = 2
interim_interval = 60
dynauth_listen = "127.0.0.1:${DYNAUTH_PORT}"
dynauth_clients = [{ address = "127.0.0.1", secret = "${DYNAUTH_SECRET}" }]
`;
}

/** FreeRADIUS in the server namespace on 1812/1813, knowing the harness's users. */
export function startRadius(netns: string, s: ServerSetup): Promise<FreeRadius> {
  return startFreeRadius({
    secret: RADIUS_SECRET,
    users: s.users.map((u) => ({ name: u.name, password: u.password, reply: [`Framed-IP-Address = ${RADIUS_ADDRESS}`, 'Class = 0x696e7465726f70'] })),
    messageAuthenticator: true,
    netns,
  });
}

/** The detail file's records (blank-line separated) that mention `needle`. */
function records(fr: FreeRadius, needle: string): string[] {
  return fr.detail().split(/\n\s*\n/).filter((r) => r.includes(needle));
}

const attrOf = (rec: string, name: string): string | undefined => new RegExp(`^\\s*${name} = "?([^"\\n]*)"?$`, 'm').exec(rec)?.[1];

/** status --json's first RADIUS server. */
async function radiusServerStatus(ctx: Ctx, dir: string, file: string): Promise<{ state?: string; accepts?: number; rejects?: number; text: string }> {
  const st = await cli(ctx.server, ['status', '--json']);
  writeFileSync(join(dir, file), st.out + '\n');
  try {
    const server = (JSON.parse(st.stdout) as { radius?: { servers: Array<{ state: string; accepts: number; rejects: number }> } }).radius?.servers[0];
    return { ...server, text: st.out };
  } catch {
    return { text: st.out };
  }
}

/**
 * `radius-wrong-password`: the client (stopped before ppp-auth by the stages) was refused
 * by RADIUS: FreeRADIUS sent an Access-Reject for the user, the server logged the failed
 * login and counted the reject, and no accounting was sent for the user.
 */
export async function radiusRejectChecks(ctx: Ctx, c: Client, fr: FreeRadius, dir: string): Promise<string[]> {
  const user = c.user.name;
  const { fails, check } = checks(ctx, 'radius');
  writeFileSync(join(dir, 'freeradius-1.log'), fr.log());
  const rejected = await waitFor(() => /Sent Access-Reject/.test(fr.log()) && fr.log().includes(`User-Name = "${user}"`), 30_000);
  check(rejected, 'FreeRADIUS rejected the wrong password', rejected ? 'Access-Reject in its log' : 'no Access-Reject for the user in its log within 30 s');
  check(!/Sent Access-Accept/.test(fr.log()), 'FreeRADIUS accepted nothing', /Sent Access-Accept/.test(fr.log()) ? 'an Access-Accept in its log' : 'no Access-Accept');
  const slog = readIf(join(dir, 'server.log'));
  const failure = slog.split('\n').find((l) => l.includes('"event":"ppp.auth.failure"') && l.includes(`"user":"${user}"`));
  check(failure !== undefined, 'server logs ppp.auth.failure for the user', (/"reason":"([^"]*)"/.exec(failure ?? '')?.[1] ?? 'none').slice(0, 160));
  const server = await radiusServerStatus(ctx, dir, 'status-radius.json');
  check(server.state === 'alive' && (server.rejects ?? 0) >= 1 && (server.accepts ?? 0) === 0, 'status: the RADIUS server counted the reject', `${String(server.state)}, ${String(server.rejects)} rejected, ${String(server.accepts)} accepted`);
  const acct = records(fr, 'Acct-Status-Type').filter((r) => r.includes(`User-Name = "${user}"`));
  check(acct.length === 0, 'no accounting for a refused login', `${acct.length} accounting records for ${user}`);
  return fails;
}

export async function radiusChecks(ctx: Ctx, c: Client, fr: FreeRadius, dir: string): Promise<string[]> {
  const user = c.user.name;
  if (ctx.scenario.tweak?.wrongPassword) return radiusRejectChecks(ctx, c, fr, dir);
  const { fails, check } = checks(ctx, 'radius');
  // an IKEv2 client (EAP-MSCHAPv2 through RADIUS) or an L2TP/IPsec one (PPP MS-CHAPv2)
  const v2 = profileOf(ctx.scenario.profile).kind === 'ikev2';
  writeFileSync(join(dir, 'freeradius-1.log'), fr.log());

  // 1. The login went through RADIUS: its Access-Accept, and the address it gave is the client's.
  check(/Sent Access-Accept/.test(fr.log()) && new RegExp(`User-Name = "${user}"`).test(fr.log()), 'FreeRADIUS accepted the login', 'Access-Accept in its log');
  const ipup = (readIf(join(c.hdir, 'ipup.txt')).trim().split('\n').at(-1) ?? '').split(' ');
  const got = v2 ? c.vip : ipup[1];
  check(got === RADIUS_ADDRESS, 'Framed-IP-Address is the client\'s address', `client's ${v2 ? 'virtual IP' : 'pppd'} ${String(got)}, RADIUS gave ${RADIUS_ADDRESS}`);

  // 2. status shows the RADIUS server alive with the accept.
  const server = await radiusServerStatus(ctx, dir, 'status-radius.json');
  check(server.state === 'alive' && (server.accepts ?? 0) >= 1, 'status: the RADIUS server', server.state !== undefined ? `${server.state}, ${String(server.accepts)} accepted` : `no radius in status --json: ${server.text.slice(0, 200)}`);

  // 3. Accounting Start in the detail file, with the Class echoed.
  let start: string | undefined;
  await waitFor(() => (start = records(fr, 'Acct-Status-Type = Start').find((r) => r.includes(`User-Name = "${user}"`))) !== undefined, 30_000);
  const acctId = start ? attrOf(start, 'Acct-Session-Id') : undefined;
  check(start !== undefined && acctId !== undefined, 'accounting Start in the detail file', start ? `Acct-Session-Id ${String(acctId)}` : 'none');
  if (start) check(attrOf(start, 'Framed-IP-Address') === RADIUS_ADDRESS && /Class = 0x696e7465726f70/.test(start), 'Start: address and Class', `${String(attrOf(start, 'Framed-IP-Address'))}, Class ${/Class = (\S+)/.exec(start)?.[1] ?? 'none'}`);
  if (!acctId) return fails;

  // 4. A second fetch, so the session carries at least 2 x 64 KiB towards the client.
  await guestJob(ctx, c, 'http-radius', v2 ? g.ikev2HttpJob(c.gdir, SMALL, 60, 'curl-radius.txt') : g.httpJob(c.gdir, SMALL, 60, 'curl-radius.txt'), 80);
  const curl = readIf(join(c.hdir, 'curl-radius.txt'));
  const route = readIf(join(c.hdir, 'http-route.txt'));
  const h = v2 ? g.ikev2HttpOk(curl, route, ctx.www.smallSha, c.vip ?? '') : g.httpOk(curl, route, ctx.www.smallSha);
  check(h.ok, 'second fetch', h.detail);

  // 4b. An Interim-Update for the session (interim_interval 60 s, the first after 54-66 s) with what it carried so far; the Stop's bytes not below it.
  let interim: string | undefined;
  await waitFor(() => (interim = records(fr, 'Acct-Status-Type = Interim-Update').find((r) => r.includes(`"${acctId}"`))) !== undefined, 120_000, 1000);
  const interimOut = Number((interim && attrOf(interim, 'Acct-Output-Octets')) ?? -1);
  // (on a slow machine the first fetch may still run when it is sent: some bytes, not necessarily all 64 KiB; the Stop checks them exactly)
  check(interim !== undefined && interimOut > 0, 'accounting Interim-Update in the detail file', interim ? `Acct-Output-Octets ${interimOut} so far` : `none for ${acctId} within 120 s`);

  // 5. radclient's Disconnect-Request (inside the server namespace) ends the session.
  const raddb = join(dir, 'radclient');
  mkdirSync(raddb, { recursive: true });
  writeFileSync(join(raddb, 'dictionary'), '');
  const d = await run('ip', ['netns', 'exec', ctx.net.server, 'radclient', '-x', '-d', raddb, '-r', '2', '-t', '3', `127.0.0.1:${DYNAUTH_PORT}`, 'disconnect', DYNAUTH_SECRET], {
    input: `Acct-Session-Id = "${acctId}"\nNAS-Identifier = "vpn-1"\n`,
    allowFail: true,
    timeoutMs: 30_000,
  });
  writeFileSync(join(dir, 'radclient.txt'), d.stdout + d.stderr);
  check(/Received Disconnect-ACK/.test(d.stdout + d.stderr), 'radclient Disconnect-Request: ACK', (d.stdout + d.stderr).split('\n').find((l) => /Received|No reply|Error/i.test(l))?.trim() ?? 'no answer');
  if (v2) {
    // the server deletes the IKE SA: charon logs the Delete
    let line: string | undefined;
    await waitFor(() => (line = readIf(join(c.hdir, 'charon.log')).split('\n').find((l) => /received DELETE for IKE_SA/i.test(l))) !== undefined, 60_000);
    check(line !== undefined, 'client charon gets the Delete of its IKE SA', line?.trim() ?? 'no DELETE for IKE_SA in charon.log within 60 s');
  } else {
    await guestJob(ctx, c, 'hangup-radius', g.hangupWaitJob(c.gdir, 30), 60);
    const pppd = readIf(join(c.hdir, 'hangup-pppd.txt'));
    check(/LCP terminated by peer/i.test(pppd), 'client pppd reports the hang-up', (pppd.trim().split('\n').find((l) => /terminated/i.test(l)) ?? 'nothing in pppd.log').trim());
  }

  // 6. The Stop: Admin-Reset, and the bytes of the history entry (what the server forwarded), at least what was fetched.
  let stop: string | undefined;
  await waitFor(() => (stop = records(fr, 'Acct-Status-Type = Stop').find((r) => r.includes(`"${acctId}"`))) !== undefined, 60_000);
  writeFileSync(join(dir, 'radius-detail.txt'), fr.detail());
  if (!check(stop !== undefined, 'accounting Stop in the detail file', stop ? 'present' : `none for ${acctId}`) || !stop) return fails;
  const out = Number(attrOf(stop, 'Acct-Output-Octets') ?? -1) + 2 ** 32 * Number(attrOf(stop, 'Acct-Output-Gigawords') ?? 0);
  const inn = Number(attrOf(stop, 'Acct-Input-Octets') ?? -1);
  const hist = await cli(ctx.server, ['history', '--user', user, '--json']);
  writeFileSync(join(dir, 'history-radius.json'), hist.out + '\n');
  let entry: { bytesOut?: number; bytesIn?: number; reason?: string; address?: string | null } | undefined;
  try {
    // this session's entry: the RADIUS address (only this scenario gives it)
    entry = (JSON.parse(hist.stdout) as Array<{ bytesOut?: number; bytesIn?: number; reason?: string; address?: string | null }>).filter((e) => e.address === RADIUS_ADDRESS).at(-1);
  } catch {
    entry = undefined;
  }
  check(attrOf(stop, 'Acct-Terminate-Cause') === 'Admin-Reset', 'Stop: Acct-Terminate-Cause', String(attrOf(stop, 'Acct-Terminate-Cause')));
  check(
    out >= 2 * 64 * 1024 && out >= interimOut && out === entry?.bytesOut && inn === entry.bytesIn && Number(attrOf(stop, 'Acct-Session-Time') ?? -1) >= 1,
    'Stop: byte counts',
    `Acct-Output-Octets ${out} (history ${String(entry?.bytesOut)}, fetched ${2 * 64 * 1024}), Acct-Input-Octets ${inn} (history ${String(entry?.bytesIn)}), Acct-Session-Time ${String(attrOf(stop, 'Acct-Session-Time'))}`,
  );
  return fails;
}
