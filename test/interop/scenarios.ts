import type { FloodSpec } from './flood.js';

/**
 * THE table of interop scenarios and their expectations. The integrator raises
 * `expect` (and arms `mustNotReach`) here as the server's layers land.
 */

/** Stages an L2TP/IPsec client goes through, in order. */
export const STAGES = ['ike-request', 'ike-sa', 'ipsec-sa', 'l2tp-tunnel', 'ppp-auth', 'ppp-ip', 'ping', 'http'] as const;
/** Stages an IKEv2 client (profile kind `ikev2`) goes through, in order. */
export const IKEV2_STAGES = ['ike-request', 'ike-sa', 'child-sa', 'vip', 'ping', 'http'] as const;
export type Stage = (typeof STAGES)[number] | (typeof IKEV2_STAGES)[number];
/** Every stage name, for `--expect`. */
export const ALL_STAGES: readonly Stage[] = [...STAGES, 'child-sa', 'vip'];

/**
 * A stage's rank. The L2TP stages keep their order; the IKEv2 stages sit at the rank of
 * their L2TP counterparts (`child-sa` = `ipsec-sa`: the SA that carries the traffic;
 * `vip` = `ppp-ip`: the client has its pool address), so `expect`, `mustNotReach` and the
 * lowest/highest stage of a scenario compare across both kinds of clients.
 */
export function stageIndex(s: Stage | 'none'): number {
  if (s === 'none') return -1;
  if (s === 'child-sa') return STAGES.indexOf('ipsec-sa');
  if (s === 'vip') return STAGES.indexOf('ppp-ip');
  return STAGES.indexOf(s);
}

export type PppAuth = 'mschapv2' | 'pap' | 'chap';

/** A client: what strongSwan proposes and how pppd authenticates. */
export interface Profile {
  /**
   * `l2tp` (the default): IKEv1 + ESP transport mode on udp/1701, xl2tpd and pppd.
   * `ikev2`: charon alone as an IKEv2 client, EAP-MSCHAPv2 against the users file, the
   * server's certificate checked against the CA that `l2tpsec cert init` made, a virtual
   * IP from the pool, ESP tunnel mode for 0.0.0.0/0 (pppAuth is not used).
   */
  kind?: 'l2tp' | 'ikev2';
  /** swanctl `proposals` (IKEv1 Main Mode, or IKEv2 IKE_SA_INIT for kind ikev2), comma separated, first preferred. */
  ike: string;
  /** swanctl child `esp_proposals`; a trailing DH group means PFS in Quick Mode. */
  esp: string;
  pppAuth: PppAuth;
  /** Seconds; strongSwan rekeys at rekey_time (life_time = 1.1 × rekey_time unless set). */
  ikeRekeyTime?: number;
  childRekeyTime?: number;
  childLifeTime?: number;
  /** Use a wrong PSK / a wrong PPP password (negative scenarios; for kind ikev2 a wrong EAP-MSCHAPv2 password). */
  wrongPsk?: boolean;
  wrongPassword?: boolean;
  /** Kind ikev2: the client trusts another CA (made by another `cert init`), not the server's. */
  untrustedCa?: boolean;
  /**
   * Kind ikev2: the client authenticates with its user's own IKEv2 pre-shared key (swanctl
   * `local { auth = psk; id = <user> }`, the server with the same key: `remote { auth = psk }`)
   * instead of EAP-MSCHAPv2; wrongPsk then means a wrong IKEv2 key.
   */
  ikev2Psk?: boolean;
  /** With ikev2Psk: the client sends this identity (a name that is no user) with its user's key. */
  pskIdentity?: string;
  /** With ikev2Psk: the client sends its user's identity with ANOTHER user's key (bob's for alice). */
  swapPsk?: boolean;
  /** Kind ikev2: charon's dpd_delay in seconds (its DPD, with NAT detection behind a NAT, is how MOBIKE notices a changed mapping). */
  dpdDelay?: number;
}

export const PROFILES = {
  seed: { ike: 'aes128-sha1-modp1024', esp: 'aes128-sha256-modp1024', pppAuth: 'mschapv2' },
  'nm-default': {
    ike: 'aes256-sha256-modp2048,aes256-sha256-modp1536,aes256-sha256-modp1024,aes256-sha1-modp2048,aes256-sha1-modp1536,aes256-sha1-modp1024,aes256-sha1-ecp384,aes128-sha1-modp1024,aes128-sha1-ecp256,3des-sha1-modp2048,3des-sha1-modp1024',
    esp: 'aes256-sha1,aes128-sha1,3des-sha1',
    pppAuth: 'mschapv2',
  },
  // Windows 10/11 (../shared/CLIENTS.md): ECP384 and ECP256 first, then the MODP fallbacks
  windows: { ike: 'aes256-sha1-ecp384,aes128-sha1-ecp256,aes256-sha1-modp2048,aes256-sha1-modp1024', esp: 'aes256-sha1,aes128-sha1', pppAuth: 'mschapv2' },
  ios: { ike: 'aes256-sha256-modp2048', esp: 'aes256-sha1', pppAuth: 'mschapv2' },
  android: { ike: 'aes128-sha1-modp1024,3des-sha1-modp1024', esp: 'aes128-sha1,3des-sha1', pppAuth: 'mschapv2' },
  // ChromeOS proposes AES-GCM-16 only for ESP (../shared/CLIENTS.md); its Phase 1 list is unconfirmed
  chromeos: { ike: 'aes128-sha256-modp2048,aes128-sha1-modp1024', esp: 'aes128gcm16', pppAuth: 'mschapv2' },
  // IKEv2 like Android 12+'s built-in IKEv2/IPSec MSCHAPv2: AES-CBC/SHA-256 and AES-GCM on ECP256, MODP2048 as fallback
  'ikev2-android': {
    kind: 'ikev2',
    ike: 'aes256-sha256-ecp256,aes256gcm16-prfsha256-ecp256,aes256-sha256-modp2048',
    esp: 'aes256-sha256,aes128gcm16',
    pppAuth: 'mschapv2',
  },
  // Windows 10/11 Agile VPN defaults (../shared/CLIENTS.md): single-suite proposals, all MODP1024; ESP SHA1 only
  'ikev2-windows': {
    kind: 'ikev2',
    ike: '3des-sha1-modp1024,aes256-sha1-modp1024,3des-sha256-modp1024,aes256-sha256-modp1024,3des-sha384-modp1024,aes256-sha384-modp1024',
    esp: 'aes256-sha1,aes128-sha1,3des-sha1',
    pppAuth: 'mschapv2',
  },
  // iOS/macOS manual IKEv2 profile defaults (../shared/CLIENTS.md)
  'ikev2-ios': {
    kind: 'ikev2',
    ike: 'aes256-sha256-modp2048,aes256-sha256-ecp256,aes256-sha256-modp1536,aes128-sha1-modp1024,3des-sha1-modp1024',
    esp: 'aes256-sha256,aes128-sha1,3des-sha1',
    pppAuth: 'mschapv2',
  },
  // Android's "IKEv2/IPSec PSK": the same proposals, its IPSec identifier (the user's name) and the user's own key
  'ikev2-android-psk': {
    kind: 'ikev2',
    ike: 'aes256-sha256-ecp256,aes256gcm16-prfsha256-ecp256,aes256-sha256-modp2048',
    esp: 'aes256-sha256,aes128gcm16',
    pppAuth: 'mschapv2',
    ikev2Psk: true,
  },
} satisfies Record<string, Profile>;
export type ProfileName = keyof typeof PROFILES;

/**
 * Where the clients sit: `direct` (routed home), `nat` (masquerading home: NAT-T),
 * `direct2` / `nat2` (two VMs in one such home, both connected at once).
 */
export type Topology = 'direct' | 'nat' | 'direct2' | 'nat2';

export interface Scenario {
  name: string;
  profile: ProfileName;
  /** Changes on top of the profile (negatives, short lifetimes). */
  tweak?: Partial<Profile>;
  topology: Topology;
  /** The scenario fails when the client does not reach this stage. */
  expect: Stage;
  /** Negative scenarios: the scenario fails when the client reaches this stage. */
  mustNotReach?: Stage;
  /** Fetch the 20 MB file instead of the small one. */
  bigDownload?: boolean;
  /**
   * At `http`, after the fetch: upload UPLOAD_MIB (8) MiB of random bytes made in the VM
   * (curl -T to the web server's /upload/NAME); the stage needs the server's SHA-256 and
   * length of what arrived to match the client's.
   */
  upload?: boolean;
  /** After the stages: wait this long (s) and check the IPsec SA (rekeyed) and ping again. */
  rekeyWaitS?: number;
  /**
   * Session limit: after the stages, the same user opens this many MORE L2TP sessions
   * from the same client; with the server's max_sessions_per_user = 2 the first extra
   * one must come up and the next must be refused (MS-CHAPv2 E=649), while the
   * sessions already up keep working.
   */
  extraSessions?: number;
  /**
   * Spoofing: after the stages the client pings the web server with source addresses
   * that are not its own; nothing may reach the internet namespace, while its own
   * address gets through.
   */
  spoof?: boolean;
  /** The server's ppp.pool for this scenario (e.g. a /30: one client address only). */
  pool?: string;
  /**
   * Before the follow-up, the first client vanishes without a goodbye (kill -9 of pppd,
   * xl2tpd and charon, its SAs flushed); the follow-up starts once the server logs the
   * session's end (its DPD / L2TP HELLO timeouts, set to 10 s for this), at most 150 s.
   */
  vanish?: boolean;
  /** Restart the server (SIGTERM, wait, start) between the attempt and the follow-up `thenProfile` attempt. */
  restartServer?: boolean;
  /** After the first attempt, a second one on the same server with this profile must reach `expect`. */
  thenProfile?: ProfileName;
  thenExpect?: Stage;
  /** Negative follow-ups: the scenario fails when the follow-up reaches this stage. */
  thenMustNotReach?: Stage;
  /**
   * Operating the server (test/interop/operate.ts): after the stages, `status --json`,
   * `sessions`, the metrics endpoint, `disconnect` (the client must see the hang-up),
   * `history`, then `users del`; the follow-up login of that user must be refused.
   * The user is added back afterwards.
   */
  operate?: boolean;
  /**
   * NAT rebinding (test/interop/rebind.ts, `nat` topology): after the stages the home NAT
   * forgets the client's UDP mapping and maps it anew to another port; the server must
   * follow the client's authenticated packets there (ping, a fetch, DPD at 10 s keeps
   * answering, status shows the new port).
   */
  rebind?: boolean;
  /** Faults on the path between the home and the server (test/interop/faults.ts, nftables in inet), from the first packet to the end of the first attempt: percent lost at random each way. */
  pathLossPct?: number;
  /** Every IKE packet duplicated on the path, both ways (nftables `dup` in inet). */
  dupIke?: boolean;
  /** The client's Quick Mode 3 dropped once on the path (seed profile: SHA-1 sized); the server must send QM2 again. */
  dropQm3Once?: boolean;
  /** The client VM drops the first MS-CHAPv2 Success it receives (nftables in the guest); the server must send it again. */
  dropChapSuccessOnce?: boolean;
  /** netem arguments on the client VM's eth0 (its egress) during the first attempt, e.g. `delay 20ms 10ms reorder 25%`. */
  clientNetem?: string;
  /** The file the client fetches at `http`, MiB (instead of 64 KiB; bigDownload = 20). */
  downloadMiB?: number;
  /**
   * With restartServer: the server is killed with SIGKILL while the client is connected
   * (no teardown). The restarted server must come up with its nftables table as a fresh
   * start has it (same rule count), the follow-up must reach its stage, and after a clean
   * stop net.ipv4.ip_forward in the server namespace must be what it was before the
   * first start.
   */
  kill9?: boolean;
  /**
   * After `http`: the client sends `count` L2TP/PPP junk datagrams over `seconds` inside its
   * own SA (guest.ts junkJob); the session must hold (ping, a fetch, no session.stop).
   */
  junk?: { count: number; seconds: number };
  /** Spoofed MM1 and garbage on 4500 during the attempt (test/interop/flood.ts), with the bounds it is judged by. */
  flood?: FloodSpec;
  /**
   * Checks beyond the stages that are known to fail on the current code (by the name
   * the check prints). Such a failure is reported as KNOWN and does not fail the
   * scenario; the same check passing fails it, so the mark is removed with the fix.
   */
  knownFailures?: string[];
  /** Two-VM topologies: the second VM runs this profile instead (e.g. an IKEv2 client beside an L2TP one). */
  secondProfile?: ProfileName;
  /**
   * IKEv2: the server's chain is `cert init --key-bits 4096 --intermediate` (server/big-chain/:
   * server certificate + intermediate CA, RSA 4096, well over 1500 bytes), the client trusts
   * that chain's root; the IKE_AUTH response with the chain must reach the client as RFC 7383
   * fragments (counted in the server's capture, and charon must log their reassembly).
   */
  bigChain?: boolean;
  /**
   * The server's `ipsec.child_lifetime_max` (seconds): an IKEv2 child the client has not
   * rekeyed by 90% of it is rekeyed by the server (its own CREATE_CHILD_SA).
   */
  serverChildLifetime?: number;
  /**
   * The server's `ipsec.ike_lifetime_max` (seconds): an IKEv2 IKE SA the client has not
   * rekeyed by 81-90% of it is rekeyed by the server (CREATE_CHILD_SA for the IKE SA,
   * then its Delete of the old IKE SA).
   */
  serverIkeLifetime?: number;
  /**
   * RADIUS (test/interop/radius.ts): the server checks passwords with and accounts to a
   * FreeRADIUS the harness starts in the server namespace; after the stages the RADIUS
   * checks (its address, Start, Interim-Update, radclient's Disconnect-Request, the Stop's
   * bytes; with wrongPassword: the Access-Reject, the failed login, no accounting).
   */
  radius?: boolean;
  /** Part of the default (CI) set. */
  ci: boolean;
  /**
   * MOBIKE (test/interop/mobike.ts, `nat` topology, an IKEv2 client): after the stages the
   * home router moves the client to another public address in the middle of a 20 MB
   * download; the download must finish intact, status must show the new address with the
   * same session and virtual IP, and charon's log the MOBIKE update.
   */
  mobikeMove?: boolean;
}

/**
 * Expectations: every client profile reaches `http` (a file fetched from the
 * `internet` namespace through the tunnel and the server's NAT, SHA-256 checked),
 * directly and behind a NAT; the negatives stop where they must.
 */
export const SCENARIOS: Scenario[] = [
  { name: 'seed-direct', profile: 'seed', topology: 'direct', expect: 'http', bigDownload: true, upload: true, ci: true },
  { name: 'android-direct', profile: 'android', topology: 'direct', expect: 'http', ci: true },
  // negative: a wrong PSK never gets an IKE SA, and the server keeps serving the next client
  { name: 'wrong-psk', profile: 'seed', tweak: { wrongPsk: true }, topology: 'direct', expect: 'ike-request', mustNotReach: 'ike-sa', thenProfile: 'seed', thenExpect: 'http', ci: true },
  // negative: a wrong password stops at MS-CHAPv2 (the server logs ppp.auth.failure with the user)
  { name: 'wrong-password', profile: 'seed', tweak: { wrongPassword: true }, topology: 'direct', expect: 'l2tp-tunnel', mustNotReach: 'ppp-auth', ci: true },
  { name: 'nm-default-direct', profile: 'nm-default', topology: 'direct', expect: 'http', ci: true },
  { name: 'windows-direct', profile: 'windows', topology: 'direct', expect: 'http', ci: true },
  { name: 'ios-direct', profile: 'ios', topology: 'direct', expect: 'http', ci: true },
  // ESP with AES-GCM-16 (RFC 4106) end to end
  { name: 'chromeos-gcm', profile: 'chromeos', topology: 'direct', expect: 'http', ci: true },
  // the client rekeys its IPsec SA after 20 s: the SA and the traffic survive it
  { name: 'rekey', profile: 'seed', tweak: { childRekeyTime: 20, childLifeTime: 40 }, topology: 'direct', expect: 'http', rekeyWaitS: 35, ci: true },
  // a third session of a user with the limit at 2 is refused; the first two keep working
  { name: 'session-limit', profile: 'seed', topology: 'direct', expect: 'http', extraSessions: 2, ci: true },
  // a client sending from an address other than its own gets nothing through
  { name: 'spoof', profile: 'android', topology: 'nat', expect: 'http', spoof: true, ci: true },
  // a /30 pool has ONE client address: after the first client disconnects, a new one must get it
  { name: 'address-reuse', profile: 'seed', topology: 'direct', pool: '10.40.0.0/30', expect: 'http', thenProfile: 'android', thenExpect: 'http', ci: true },
  // The same after a client that vanished (the server's DPD ends it, ~30 s with dpd_idle = 10; ~90 s in all).
  { name: 'address-reuse-vanish', profile: 'seed', topology: 'direct', pool: '10.40.0.0/30', vanish: true, expect: 'http', thenProfile: 'android', thenExpect: 'http', ci: true },
  // the server restarts (and leaves nothing behind); the client's next connect works
  { name: 'server-restart', profile: 'seed', topology: 'nat', restartServer: true, expect: 'http', thenProfile: 'seed', thenExpect: 'http', ci: true },
  // status/sessions/metrics show the client and its traffic; disconnect ends it; a deleted user cannot log in
  { name: 'operate', profile: 'seed', topology: 'nat', expect: 'http', operate: true, thenProfile: 'seed', thenExpect: 'l2tp-tunnel', thenMustNotReach: 'ppp-auth', ci: true },
  // the home NAT maps the client to a new port mid-session: the server follows it
  { name: 'nat-rebind', profile: 'seed', topology: 'nat', expect: 'http', rebind: true, ci: true },
  { name: 'seed-nat', profile: 'seed', topology: 'nat', expect: 'http', ci: true },
  { name: 'windows-nat', profile: 'windows', topology: 'nat', expect: 'http', ci: true },
  { name: 'android-nat', profile: 'android', topology: 'nat', expect: 'http', ci: true },
  { name: 'nm-default-nat', profile: 'nm-default', topology: 'nat', expect: 'http', ci: true },
  { name: 'ios-nat', profile: 'ios', topology: 'nat', expect: 'http', ci: true },
  // faults with the real client (issue 14's system-level suite): 5% random loss each way on the path
  { name: 'loss', profile: 'seed', topology: 'direct', expect: 'http', pathLossPct: 5, bigDownload: true, upload: true, ci: true },
  // the client's QM3 (its last Quick Mode message, never resent by it) lost once: the server must send QM2 again
  { name: 'qm3-loss', profile: 'seed', topology: 'direct', expect: 'http', dropQm3Once: true, ci: true },
  // the server's MS-CHAPv2 Success lost once: the client never asks again, so the server must send it again
  { name: 'chap-success-loss', profile: 'seed', topology: 'direct', expect: 'http', dropChapSuccessOnce: true, ci: true },
  // 20 ms ± 10 ms delay and reordering on the client's side (netem in the VM)
  { name: 'delay-reorder', profile: 'seed', topology: 'direct', expect: 'http', clientNetem: 'delay 20ms 10ms reorder 25% 50%', bigDownload: true, ci: true },
  // every IKE packet twice on the path: a duplicate Main Mode 1 must not replace the SA it created
  { name: 'dup', profile: 'seed', topology: 'direct', expect: 'http', dupIke: true, ci: true },
  // kill -9 with the client up: the restart has no duplicate rules, the next connect works, forwarding as before.
  // Known failure: a start after kill -9 finds forwarding on and does not know it was off before the first start
  // (the fix, keeping the old value in a file under /run/l2tpsec, is not on main yet); remove the mark with it.
  { name: 'kill9-restart', profile: 'seed', topology: 'direct', restartServer: true, kill9: true, expect: 'http', thenProfile: 'seed', thenExpect: 'http', ci: true },
  // spoofed MM1 from thousands of sources and garbage on 4500 while the client connects and downloads
  {
    name: 'flood',
    profile: 'seed',
    topology: 'direct',
    expect: 'http',
    downloadMiB: 4,
    junk: { count: 600, seconds: 3 },
    // measured: RSS 94 MiB before, 177 MiB at its peak; 8.8 log lines/s (20 per reason per 10 s)
    flood: { mm1PerS: 2000, garbagePerS: 500, maxS: 200, maxRssMiB: 256, maxLogLinesPerS: 20 },
    ci: true,
  },
  { name: 'two-clients', profile: 'seed', topology: 'direct2', expect: 'http', ci: true },
  { name: 'two-behind-nat', profile: 'seed', topology: 'nat2', expect: 'http', ci: true },
  // IKEv2 (issue 12): charon as an Android-like IKEv2 client, EAP-MSCHAPv2, trusting only the CA of `cert init`
  // (each passed twice in a row on 2026-12-02; ikev2-direct ~17 s with the 20 MB file, ikev2-nat ~14 s)
  { name: 'ikev2-direct', profile: 'ikev2-android', topology: 'direct', expect: 'http', bigDownload: true, upload: true, ci: true },
  { name: 'ikev2-nat', profile: 'ikev2-android', topology: 'nat', expect: 'http', ci: true },
  // negative: a wrong password is refused (EAP-MSCHAPv2 failure, the client's AUTHENTICATION_FAILED): no IKE SA, no address (~9 s)
  { name: 'ikev2-wrong-password', profile: 'ikev2-android', tweak: { wrongPassword: true }, topology: 'direct', expect: 'ike-request', mustNotReach: 'ike-sa', ci: true },
  // an L2TP/IPsec client (VM 0, alice) and an IKEv2 client (VM 1, bob) connected at the same time (~20 s)
  { name: 'ikev2-with-l2tp', profile: 'seed', secondProfile: 'ikev2-android', topology: 'direct2', expect: 'http', ci: true },
  // Windows' default proposals (MODP1024 only, ESP with SHA1: the server picks AES256/SHA1/MODP1024) and iOS/macOS's (~15 s each)
  { name: 'ikev2-windows', profile: 'ikev2-windows', topology: 'direct', expect: 'http', ci: true },
  { name: 'ikev2-ios-nat', profile: 'ikev2-ios', topology: 'nat', expect: 'http', ci: true },
  // two IKEv2 clients behind one NAT (alice and bob), each fetching its own file (~15 s)
  { name: 'ikev2-two-behind-nat', profile: 'ikev2-android', topology: 'nat2', expect: 'http', ci: true },
  // the client rekeys its CHILD SA after 15 s and 30 s and its IKE SA after ~23-25 s while it pings every 0.5 s for 35 s (~50 s)
  { name: 'ikev2-rekey', profile: 'ikev2-android', tweak: { ikeRekeyTime: 25, childRekeyTime: 15, childLifeTime: 40 }, topology: 'direct', expect: 'http', rekeyWaitS: 35, ci: true },
  // negative: a client that does not trust the server's CA refuses its certificate itself: no IKE SA, nobody logged in (~9 s)
  { name: 'ikev2-untrusted-ca', profile: 'ikev2-android', tweak: { untrustedCa: true }, topology: 'direct', expect: 'ike-request', mustNotReach: 'ike-sa', ci: true },
  // per-user IKEv2 pre-shared keys (issue 13; keys given with `users add --ikev2-psk-file`): alice's identity and key connect and fetch
  { name: 'ikev2-psk', profile: 'ikev2-android-psk', topology: 'direct', expect: 'http', ci: true },
  // negatives, refused at IKE_AUTH (the client sees AUTHENTICATION_FAILED; the server logs ikev2.auth.failed with its reason):
  // a wrong key for alice; an identity that is no user (with alice's real key)
  { name: 'ikev2-psk-wrong-key', profile: 'ikev2-android-psk', tweak: { wrongPsk: true }, topology: 'direct', expect: 'ike-request', mustNotReach: 'ike-sa', ci: true },
  { name: 'ikev2-psk-unknown-id', profile: 'ikev2-android-psk', tweak: { pskIdentity: 'mallory' }, topology: 'direct', expect: 'ike-request', mustNotReach: 'ike-sa', ci: true },
  // keys cannot be swapped: alice's identity with bob's (valid) key is refused; then alice with her own key connects
  { name: 'ikev2-psk-swap', profile: 'ikev2-android-psk', tweak: { swapPsk: true }, topology: 'direct', expect: 'ike-request', mustNotReach: 'ike-sa', thenProfile: 'ikev2-android-psk', thenExpect: 'http', ci: true },
  // a chain larger than 1500 bytes (server + intermediate CA, RSA 4096): IKE_AUTH goes out in RFC 7383 fragments (16-30 s)
  { name: 'ikev2-big-chain', profile: 'ikev2-android', topology: 'direct', expect: 'http', bigChain: true, ci: true },
  // an IKEv2 client behind the NAT: status/sessions/metrics show it (kind ikev2), disconnect sends the IKE SA's Delete, users del refuses the next login (~30 s)
  { name: 'ikev2-operate', profile: 'ikev2-android', topology: 'nat', expect: 'http', operate: true, thenProfile: 'ikev2-android', thenExpect: 'ike-request', thenMustNotReach: 'ike-sa', ci: true },
  // the server rekeys the child (child_lifetime_max = 60: at 54 s) before the client does (rekey_time 1 h): charon answers
  // our CREATE_CHILD_SA and our Delete of the old child, pings every 0.5 s meanwhile (~80 s; passed: 119/119 pings)
  { name: 'ikev2-server-rekey', profile: 'ikev2-android', topology: 'direct', expect: 'http', serverChildLifetime: 60, rekeyWaitS: 60, ci: true },
  // MOBIKE (issue 13): the home router moves the IKEv2 client to another public address mid-download; the session follows it
  // (passed in two runs in a row on 2026-12-02, 87 s and 82 s, 27 s of it idle on purpose; the second saw two updates, :4500 then a new port)
  { name: 'ikev2-mobike', profile: 'ikev2-android', tweak: { dpdDelay: 5 }, topology: 'nat', expect: 'http', mobikeMove: true, ci: true },
  // the same on a direct home: the client VM's own address changes mid-download, charon notices and sends the update itself
  { name: 'ikev2-mobike-direct', profile: 'ikev2-android', topology: 'direct', expect: 'http', mobikeMove: true, ci: false },
  // RADIUS: FreeRADIUS (in the server namespace) decides the login and gives the address; Start, Interim-Update, Disconnect-Request, Stop with the bytes
  // (passed alone twice in a row on 2026-12-02, 85 s and 89 s, about 45 s of it waiting for the Interim-Update; and beside ikev2-radius and radius-wrong-password)
  { name: 'radius', profile: 'seed', topology: 'direct', expect: 'http', radius: true, ci: true },
  // the same for an IKEv2 client: EAP-MSCHAPv2 through RADIUS (its MSK from the MPPE keys), the virtual IP from RADIUS, Disconnect-Request = IKE SA Delete
  // (passed alone twice in a row on 2026-12-02, 83 s and 79 s; and beside radius and radius-wrong-password)
  { name: 'ikev2-radius', profile: 'ikev2-android', topology: 'direct', expect: 'http', radius: true, ci: true },
  // negative: the real client's wrong password refused through RADIUS (its Access-Reject, ppp.auth.failure, no accounting); stops at MS-CHAPv2
  // (passed twice beside radius and ikev2-radius, 2026-12-02)
  { name: 'radius-wrong-password', profile: 'seed', tweak: { wrongPassword: true }, topology: 'direct', expect: 'l2tp-tunnel', mustNotReach: 'ppp-auth', radius: true, ci: true },
  // the server rekeys the IKE SA (ike_lifetime_max = 60: at 49-54 s) before the client does (rekey_time 4 h): charon answers
  // our CREATE_CHILD_SA for the IKE SA and our Delete of the old IKE SA, its IKE SPIs change, pings every 0.5 s meanwhile
  // (passed on 2026-12-02: rekey 50 s after IKE_AUTH, 120/120 pings, ~77 s)
  { name: 'ikev2-server-ike-rekey', profile: 'ikev2-android', topology: 'direct', expect: 'http', serverIkeLifetime: 60, rekeyWaitS: 60, ci: true },
];

export function profileOf(name: ProfileName, tweak?: Partial<Profile>): Profile {
  return { ...PROFILES[name], ...tweak };
}

/** Whether a scenario has an IKEv2 client (the server then serves IKEv2 too). */
export function usesIkev2(sc: Scenario): boolean {
  const kinds = [sc.profile, sc.secondProfile, sc.thenProfile].filter((p): p is ProfileName => p !== undefined).map((p) => profileOf(p).kind);
  return kinds.includes('ikev2');
}
