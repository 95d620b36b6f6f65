/**
 * The client side, as shell jobs for the guest agent: strongSwan (charon + swanctl)
 * for the IKEv1/transport-mode SA on udp/1701, xl2tpd as LAC, pppd — configured as
 * NetworkManager-l2tp and the setup guides run them (see /work/shared/testbed). Each
 * job writes its evidence into the scenario's log folder on the share, which the host
 * reads (parsers below) and keeps as artifacts.
 */
import type { Profile } from './scenarios.js';
import { HTTP_ADDR, SERVER_ADDR } from './netns.js';

/** The ppp pool's server address (the DNS the server pushes, and the ping target). */
export const TUNNEL_SERVER_ADDR = '10.40.0.1';

const LOGDIR = '/run/l2s-logdir';

/** Stop whatever the previous attempt left (charon, xl2tpd, pppd, SAs). Runs inside the VM only. */
export function resetJob(): string {
  return `
if [ -p /run/xl2tpd/l2tp-control ]; then timeout 3 sh -c 'echo "d vpn" > /run/xl2tpd/l2tp-control' 2>/dev/null; fi
if [ -S /run/charon.vici ]; then
  timeout 8 swanctl --terminate --ike l2tp --timeout 5 >/dev/null 2>&1
  timeout 8 swanctl --terminate --ike ikev2 --timeout 5 >/dev/null 2>&1
fi
for f in /run/xl2tpd.pid /run/ppp*.pid /run/charon.pid; do
  [ -e "$f" ] && kill "$(head -n1 "$f")" 2>/dev/null
done
sleep 1
# inside the VM every one of these processes is the harness's own
for p in $(busybox pidof pppd xl2tpd charon); do kill -9 "$p" 2>/dev/null; done
rm -f /run/xl2tpd.pid /run/ppp*.pid /run/charon.pid /run/charon.vici /run/xl2tpd/l2tp-control /etc/swanctl/conf.d/l2s.conf /etc/swanctl/x509ca/l2s-ca.crt
ip xfrm state flush; ip xfrm policy flush
# an IKEv2 client's virtual IP (on eth0) and charon's routes (table 220), if a killed charon left them
for a in $(ip -4 -o addr show dev eth0 | awk '{print $4}' | grep '^10[.]40[.]'); do ip addr del "$a" dev eth0; done
ip route flush table 220 2>/dev/null
ip route del ${TUNNEL_SERVER_ADDR}/32 2>/dev/null; ip route del ${HTTP_ADDR}/32 2>/dev/null
echo reset-done
`;
}

/** The client vanishes: no Delete, no StopCCN, no LCP Terminate; its SAs gone (inside the VM only). */
export function vanishJob(): string {
  return `
for p in $(busybox pidof pppd xl2tpd charon); do kill -9 "$p" 2>/dev/null; done
ip xfrm state flush; ip xfrm policy flush
echo vanished
`;
}

function swanctlConf(p: Profile, psk: string): string {
  const lines = [
    'connections {',
    '  l2tp {',
    '    version = 1',
    `    remote_addrs = ${SERVER_ADDR}`,
    `    proposals = ${p.ike}`,
  ];
  if (p.ikeRekeyTime !== undefined) lines.push(`    rekey_time = ${p.ikeRekeyTime}s`);
  lines.push('    local {', '      auth = psk', '    }', '    remote {', '      auth = psk', '    }');
  lines.push('    children {', '      l2tp {', '        mode = transport', '        local_ts = dynamic[udp/1701]', '        remote_ts = dynamic[udp/1701]', `        esp_proposals = ${p.esp}`);
  // rand_time 0: rekey exactly at rekey_time (its default, life - rekey, would spread rekeys over 0..rekey).
  if (p.childRekeyTime !== undefined) lines.push(`        rekey_time = ${p.childRekeyTime}s`, '        rand_time = 0s');
  if (p.childLifeTime !== undefined) lines.push(`        life_time = ${p.childLifeTime}s`);
  lines.push('      }', '    }', '  }', '}', 'secrets {', '  ike-l2s {', `    secret = "${psk}"`, '  }', '}');
  return lines.join('\n') + '\n';
}

/**
 * charon's settings (retransmissions, a file log in $D) and its start, waiting for its
 * vici socket; `extraLog` adds log levels, `copyConf` puts the swanctl.conf in $D.
 */
function charonStart(extraLog: string[], copyConf: string): string {
  return `cat > /etc/strongswan.d/zz-l2s.conf <<L2S_EOF
charon {
  retransmit_timeout = 2.0
  retransmit_base = 1.4
  retransmit_tries = 4
  filelog {
    l2s {
      path = $D/charon.log
      time_format = %H:%M:%S
      default = 1
      ike = 2
      cfg = 2
${extraLog.map((l) => `      ${l}\n`).join('')}      flush_line = yes
    }
  }
}
L2S_EOF
${copyConf}
setsid /usr/lib/ipsec/charon > "$D/charon.out" 2>&1 < /dev/null &
i=0; while [ ! -S /run/charon.vici ] && [ $i -lt 60 ]; do sleep 0.5; i=$((i+1)); done
[ -S /run/charon.vici ] || { echo "charon did not start"; exit 3; }
`;
}

/** Start charon, load the profile, initiate: evidence in swanctl-*.txt and xfrm-*.txt. */
export function ikeJob(guestDir: string, p: Profile, psk: string, initiateTimeoutS: number): string {
  return `
D=${guestDir}
mkdir -p "$D"; echo "$D" > ${LOGDIR}
mkdir -p /etc/swanctl/conf.d
cat > /etc/swanctl/conf.d/l2s.conf <<'L2S_EOF'
${swanctlConf(p, psk)}L2S_EOF
${charonStart([], 'cp /etc/swanctl/conf.d/l2s.conf "$D/swanctl.conf"')}swanctl --load-all > "$D/swanctl-load.txt" 2>&1
swanctl --initiate --child l2tp --timeout ${initiateTimeoutS} > "$D/swanctl-initiate.txt" 2>&1
echo "initiate rc=$?" >> "$D/swanctl-initiate.txt"
swanctl --list-sas > "$D/swanctl-list-sas.txt" 2>&1
ip xfrm state > "$D/xfrm-state.txt" 2>&1
ip xfrm policy > "$D/xfrm-policy.txt" 2>&1
tail -n 3 "$D/swanctl-initiate.txt"
`;
}

/** An IKEv2 client's pre-shared key login: the identity it sends (IDi) and the key it uses. */
export interface Ikev2PskLogin {
  id: string;
  key: string;
}

/**
 * swanctl.conf of an IKEv2 client (profile kind ikev2): EAP-MSCHAPv2 out, the server's
 * certificate in; or with `psk`, the user's own pre-shared key both ways (Android's
 * "IKEv2/IPSec PSK": identity and key, the server authenticated by the same key).
 */
function swanctlIkev2Conf(p: Profile, user: string, password: string, serverId: string, psk?: Ikev2PskLogin): string {
  const lines = [
    'connections {',
    '  ikev2 {',
    '    version = 2',
    `    remote_addrs = ${SERVER_ADDR}`,
    `    proposals = ${p.ike}`,
    '    vips = 0.0.0.0',
  ];
  if (p.ikeRekeyTime !== undefined) lines.push(`    rekey_time = ${p.ikeRekeyTime}s`);
  if (p.dpdDelay !== undefined) lines.push(`    dpd_delay = ${p.dpdDelay}s`);
  if (psk) {
    lines.push('    local {', '      auth = psk', `      id = ${psk.id}`, '    }');
    lines.push('    remote {', '      auth = psk', `      id = ${serverId}`, '    }');
  } else {
    lines.push('    local {', '      auth = eap-mschapv2', `      eap_id = ${user}`, '    }');
    lines.push('    remote {', '      auth = pubkey', `      id = ${serverId}`, '    }');
  }
  lines.push('    children {', '      ikev2 {', '        mode = tunnel', '        remote_ts = 0.0.0.0/0', `        esp_proposals = ${p.esp}`);
  if (p.childRekeyTime !== undefined) lines.push(`        rekey_time = ${p.childRekeyTime}s`, '        rand_time = 0s');
  if (p.childLifeTime !== undefined) lines.push(`        life_time = ${p.childLifeTime}s`);
  lines.push('      }', '    }', '  }', '}', 'secrets {');
  if (psk) lines.push(`  ike-${psk.id} {`, `    id = ${psk.id}`, `    secret = "${psk.key}"`, '  }', '}');
  else lines.push(`  eap-${user} {`, `    id = ${user}`, `    secret = "${password}"`, '  }', '}');
  return lines.join('\n') + '\n';
}

/**
 * An IKEv2 client: charon with the CA of `cert init` in x509ca (and no other trust),
 * initiate, then the evidence: swanctl-list-sas.txt, xfrm-*.txt, ip-addr.txt (the virtual IP).
 */
export function ikev2Job(guestDir: string, p: Profile, user: string, password: string, caPem: string, serverId: string, initiateTimeoutS: number, psk?: Ikev2PskLogin): string {
  return `
D=${guestDir}
mkdir -p "$D"; echo "$D" > ${LOGDIR}
mkdir -p /etc/swanctl/conf.d /etc/swanctl/x509ca
cat > /etc/swanctl/x509ca/l2s-ca.crt <<'L2S_EOF'
${caPem.trimEnd()}
L2S_EOF
cat > /etc/swanctl/conf.d/l2s.conf <<'L2S_EOF'
${swanctlIkev2Conf(p, user, password, serverId, psk)}L2S_EOF
${charonStart(['enc = 1'], `grep -v 'secret = ' /etc/swanctl/conf.d/l2s.conf > "$D/swanctl.conf"`)}swanctl --load-all > "$D/swanctl-load.txt" 2>&1
swanctl --initiate --child ikev2 --timeout ${initiateTimeoutS} > "$D/swanctl-initiate.txt" 2>&1
echo "initiate rc=$?" >> "$D/swanctl-initiate.txt"
swanctl --list-sas > "$D/swanctl-list-sas.txt" 2>&1
ip xfrm state > "$D/xfrm-state.txt" 2>&1
ip xfrm policy > "$D/xfrm-policy.txt" 2>&1
ip -4 addr > "$D/ip-addr.txt" 2>&1
ip route show table 220 > "$D/route-220.txt" 2>&1
tail -n 3 "$D/swanctl-initiate.txt"
`;
}

/** Ping through an IKEv2 client's tunnel (charon's policy for 0.0.0.0/0 and its route in table 220: no route of ours). */
export function ikev2PingJob(guestDir: string, target: string, file: string): string {
  return `
D=${guestDir}
ip route get ${target} > "$D/${file}.route" 2>&1
busybox ping -c 4 -i 0.5 -W 3 -w 15 ${target} > "$D/${file}" 2>&1
tail -n 2 "$D/${file}"
`;
}

/**
 * An IKEv2 client under traffic while its SAs rekey: pings 10.40.0.1 every 0.5 s for
 * `waitS` seconds, with the SAs listed before and after.
 */
export function ikev2RekeyJob(guestDir: string, waitS: number): string {
  return `
D=${guestDir}
swanctl --list-sas > "$D/rekey-list-sas-before.txt" 2>&1
busybox ping -i 0.5 -W 2 -w ${waitS} ${TUNNEL_SERVER_ADDR} > "$D/rekey-ping.txt" 2>&1
swanctl --list-sas > "$D/rekey-list-sas.txt" 2>&1
ip xfrm state > "$D/rekey-xfrm-state.txt" 2>&1
grep -E 'rekey|CREATE_CHILD_SA' "$D/charon.log" > "$D/rekey-charon.txt" 2>&1
tail -n 2 "$D/rekey-ping.txt"
cat "$D/rekey-list-sas.txt"
`;
}

/** The IKE SA's SPIs in `swanctl --list-sas` ("SPI_i* SPI_r"). */
export function ikeSpis(listSas: string): string {
  return /ESTABLISHED, IKEv2, (\S+ \S+)/.exec(listSas)?.[1] ?? '';
}

/** Echo requests sent and replies received in a busybox ping summary. */
export function pingCounts(pingOut: string): { sent: number; received: number } {
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(pingOut);
  return { sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0) };
}

/** A fetch through an IKEv2 client's tunnel (no route of ours: charon's table 220 and policy carry it). */
export function ikev2HttpJob(guestDir: string, path: string, maxTimeS: number, file = 'curl.txt'): string {
  return `
D=${guestDir}
ip route get ${HTTP_ADDR} > "$D/http-route.txt" 2>&1
ip xfrm state > "$D/http-xfrm-before.txt" 2>&1
rm -f /tmp/l2s-download
curl -sS --max-time ${maxTimeS} -o /tmp/l2s-download -w '%{http_code} %{size_download} %{speed_download}\\n' http://${HTTP_ADDR}/${path} > "$D/${file}" 2>&1
echo "curl rc=$?" >> "$D/${file}"
sha256sum /tmp/l2s-download >> "$D/${file}" 2>&1
ip xfrm state > "$D/http-xfrm-after.txt" 2>&1
cat "$D/${file}"
`;
}

function pppOptions(guestDir: string, p: Profile, user: string, password: string, logName = 'pppd.log'): string {
  const refuse =
    p.pppAuth === 'mschapv2'
      ? ['refuse-pap', 'refuse-chap', 'refuse-eap', 'refuse-mschap']
      : p.pppAuth === 'pap'
        ? ['refuse-chap', 'refuse-mschap', 'refuse-mschap-v2', 'refuse-eap']
        : ['refuse-pap', 'refuse-mschap', 'refuse-mschap-v2', 'refuse-eap'];
  return [
    'ipcp-accept-local',
    'ipcp-accept-remote',
    ...refuse,
    'noccp',
    'noauth',
    `name ${user}`,
    `password ${password}`,
    'usepeerdns',
    'mtu 1400',
    'mru 1400',
    'noipdefault',
    'nodefaultroute',
    'lcp-echo-interval 30',
    'lcp-echo-failure 4',
    'debug',
    `logfile ${guestDir}/${logName}`,
  ].join('\n') + '\n';
}

/** xl2tpd as LAC + pppd; waits for ip-up, an auth failure, or the time limit. */
export function l2tpJob(guestDir: string, p: Profile, user: string, password: string, waitS: number, extraLacs = 0): string {
  // Extra LAC sections (vpn2, vpn3, ...) to the same server, each with its own pppd
  // options and log, for further sessions of the same user (session-limit scenario).
  const extra = Array.from({ length: extraLacs }, (_, i) => i + 2);
  const lacs = extra
    .map((n) => `\n[lac vpn${n}]\nlns = ${SERVER_ADDR}\npppoptfile = /etc/ppp/options.l2tp-client-${n}\nrequire authentication = no\nlength bit = yes\nredial = no\nautodial = no\n`)
    .join('');
  const opts = extra
    .map((n) => `cat > /etc/ppp/options.l2tp-client-${n} <<'L2S_EOF'\n${pppOptions(guestDir, p, user, password, `pppd-${n}.log`)}L2S_EOF\n`)
    .join('');
  return `
D=${guestDir}
mkdir -p /run/xl2tpd /etc/ppp/ip-up.d /etc/xl2tpd
cat > /etc/xl2tpd/l2s.conf <<'L2S_EOF'
[global]
port = 1701
access control = no
force userspace = yes

[lac vpn]
lns = ${SERVER_ADDR}
pppoptfile = /etc/ppp/options.l2tp-client
require authentication = no
length bit = yes
redial = no
autodial = no
${lacs}L2S_EOF
cat > /etc/ppp/options.l2tp-client <<'L2S_EOF'
${pppOptions(guestDir, p, user, password)}L2S_EOF
${opts}
cat > /etc/ppp/ip-up.d/zz-l2s <<'L2S_EOF'
#!/bin/sh
echo "$1 $4 $5 DNS1=\${DNS1:-} DNS2=\${DNS2:-}" >> "$(cat ${LOGDIR})/ipup.txt"
L2S_EOF
chmod +x /etc/ppp/ip-up.d/zz-l2s
cp /etc/xl2tpd/l2s.conf "$D/xl2tpd.conf"; grep -v '^password' /etc/ppp/options.l2tp-client > "$D/ppp-options.txt"
setsid xl2tpd -D -c /etc/xl2tpd/l2s.conf -p /run/xl2tpd.pid -C /run/xl2tpd/l2tp-control > "$D/xl2tpd.log" 2>&1 < /dev/null &
i=0; while [ ! -p /run/xl2tpd/l2tp-control ] && [ $i -lt 40 ]; do sleep 0.5; i=$((i+1)); done
[ -p /run/xl2tpd/l2tp-control ] || { echo "xl2tpd did not start"; exit 3; }
echo "c vpn" > /run/xl2tpd/l2tp-control
i=0
while [ $i -lt ${waitS * 2} ]; do
  [ -s "$D/ipup.txt" ] && break
  grep -qiE 'authentication failed|Connection terminated|Modem hangup' "$D/pppd.log" 2>/dev/null && break
  grep -qiE 'Maximum retries exceeded|Connection .* closed|No such tunnel' "$D/xl2tpd.log" 2>/dev/null && break
  sleep 0.5; i=$((i+1))
done
sleep 1
ip addr show dev ppp0 > "$D/ppp0.txt" 2>&1
cat "$D/ipup.txt" 2>/dev/null
`;
}

/** Another call of the same user through LAC `vpnN`: waits for a new ip-up record, an auth failure, or the time limit. */
export function extraSessionJob(guestDir: string, n: number, waitS: number): string {
  return `
D=${guestDir}
before=$(wc -l < "$D/ipup.txt" 2>/dev/null || echo 0)
echo "c vpn${n}" > /run/xl2tpd/l2tp-control
i=0
while [ $i -lt ${waitS * 2} ]; do
  now=$(wc -l < "$D/ipup.txt" 2>/dev/null || echo 0)
  [ "$now" -gt "$before" ] && break
  grep -qiE 'authentication failed|Connection terminated|Modem hangup' "$D/pppd-${n}.log" 2>/dev/null && break
  sleep 0.5; i=$((i+1))
done
sleep 1
now=$(wc -l < "$D/ipup.txt" 2>/dev/null || echo 0)
echo "session ${n}: ip-up records $before -> $now"
grep -iE 'MS-CHAP|authentication' "$D/pppd-${n}.log" 2>/dev/null | tail -n 3
`;
}

/** Ping the server's tunnel address bound to one ppp interface (its own source address). */
export function pingIfJob(guestDir: string, ifname: string, file: string): string {
  return `
D=${guestDir}
busybox ping -c 3 -i 0.5 -W 3 -w 10 -I ${ifname} ${TUNNEL_SERVER_ADDR} > "$D/${file}" 2>&1
ip -4 -o addr show dev ${ifname} >> "$D/${file}" 2>&1
tail -n 3 "$D/${file}"
`;
}

/**
 * Spoofing: ping the web address through the tunnel from source addresses that are
 * not the client's own (another pool address, and one outside the pool).
 */
export function spoofJob(guestDir: string): string {
  return `
D=${guestDir}
ip route replace ${HTTP_ADDR}/32 dev ppp0
for a in 10.40.0.99 192.0.2.50; do
  ip addr add $a/32 dev ppp0
  busybox ping -c 3 -i 0.3 -W 1 -w 4 -I $a ${HTTP_ADDR} >> "$D/spoof.txt" 2>&1
  ip addr del $a/32 dev ppp0
done
tail -n 4 "$D/spoof.txt"
`;
}

/** The same ping from the client's own address, for contrast. */
export function ownPingJob(guestDir: string): string {
  return `
D=${guestDir}
ip route replace ${HTTP_ADDR}/32 dev ppp0
busybox ping -c 3 -i 0.3 -W 2 -w 6 ${HTTP_ADDR} > "$D/own-ping.txt" 2>&1
tail -n 2 "$D/own-ping.txt"
`;
}

export function pingJob(guestDir: string, file = 'ping.txt'): string {
  return `
D=${guestDir}
ip route replace ${TUNNEL_SERVER_ADDR}/32 dev ppp0
busybox ping -c 4 -i 0.5 -W 3 -w 15 ${TUNNEL_SERVER_ADDR} > "$D/${file}" 2>&1
tail -n 2 "$D/${file}"
`;
}

export function httpJob(guestDir: string, path: string, maxTimeS: number, file = 'curl.txt'): string {
  return `
D=${guestDir}
ip route replace ${HTTP_ADDR}/32 dev ppp0
ip route get ${HTTP_ADDR} > "$D/http-route.txt" 2>&1
rm -f /tmp/l2s-download
curl -sS --max-time ${maxTimeS} -o /tmp/l2s-download -w '%{http_code} %{size_download} %{speed_download}\\n' http://${HTTP_ADDR}/${path} > "$D/${file}" 2>&1
echo "curl rc=$?" >> "$D/${file}"
sha256sum /tmp/l2s-download >> "$D/${file}" 2>&1
cat "$D/${file}"
`;
}

/**
 * An upload through the tunnel: `bytes` random bytes made in the VM, their SHA-256, then
 * `curl -T` (PUT, Content-Length, no `Expect: 100-continue` wait) to the web server's
 * /upload/NAME, which hashes what arrives (test/interop/httpd.py). `viaPpp`: the L2TP
 * client's route to the web server through ppp0 (an IKEv2 client's policy carries it).
 * The file goes again afterwards; the evidence is `upload.txt` and the server's answer
 * `upload-response.json`.
 */
export function uploadJob(guestDir: string, name: string, bytes: number, maxTimeS: number, viaPpp: boolean): string {
  return `
D=${guestDir}
${viaPpp ? `ip route replace ${HTTP_ADDR}/32 dev ppp0\n` : ''}ip route get ${HTTP_ADDR} > "$D/upload-route.txt" 2>&1
rm -f /tmp/l2s-upload "$D/upload-response.json"
head -c ${bytes} /dev/urandom > /tmp/l2s-upload
sha256sum /tmp/l2s-upload > "$D/upload.txt" 2>&1
echo "client bytes $(wc -c < /tmp/l2s-upload)" >> "$D/upload.txt"
curl -sS --max-time ${maxTimeS} -H 'Expect:' -T /tmp/l2s-upload -o "$D/upload-response.json" -w 'http %{http_code} %{size_upload} %{speed_upload}\\n' http://${HTTP_ADDR}/upload/${name} >> "$D/upload.txt" 2>&1
echo "curl rc=$?" >> "$D/upload.txt"
rm -f /tmp/l2s-upload
cat "$D/upload.txt"
cat "$D/upload-response.json" 2>/dev/null
`;
}

/** What the web server recorded of one upload (httpd.py's NAME.json). */
export interface UploadRecord {
  bytes: number;
  contentLength: number;
  sha256: string;
  complete: boolean;
  seconds: number;
  /** The address the upload came from (through the tunnel: the server's masquerade). */
  client: string;
  error?: string;
}

/** httpd.py's verdict file, or null when it is missing or not its JSON. */
export function parseUploadRecord(text: string): UploadRecord | null {
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    if (typeof v.bytes !== 'number' || typeof v.contentLength !== 'number' || typeof v.sha256 !== 'string' || typeof v.complete !== 'boolean') return null;
    return { bytes: v.bytes, contentLength: v.contentLength, sha256: v.sha256, complete: v.complete, seconds: typeof v.seconds === 'number' ? v.seconds : 0, client: typeof v.client === 'string' ? v.client : '', ...(typeof v.error === 'string' ? { error: v.error } : {}) };
  } catch {
    return null;
  }
}

/**
 * The upload's verdict: the client made `bytes` bytes and hashed them, curl got 200 and
 * exited 0, and the server received exactly that many bytes with the same SHA-256, from
 * the VPN server's address (its masquerade: so through the tunnel, not around it).
 */
export function uploadOk(uploadTxt: string, server: UploadRecord | null, bytes: number): { ok: boolean; detail: string } {
  const clientSha = /^([0-9a-f]{64})  \/tmp\/l2s-upload$/m.exec(uploadTxt)?.[1];
  const clientBytes = Number(/^client bytes (\d+)$/m.exec(uploadTxt)?.[1] ?? -1);
  const http = /^http (\d+) (\d+) ([\d.]+)$/m.exec(uploadTxt);
  const rc = /^curl rc=(\d+)$/m.exec(uploadTxt)?.[1];
  const flat = uploadTxt.trim().split('\n').join(' | ');
  if (clientSha === undefined || clientBytes !== bytes) return { ok: false, detail: `the client did not make its ${bytes} bytes: ${flat}` };
  if (!server) return { ok: false, detail: `no record of the upload on the server; client: ${flat}` };
  const speed = http ? `${(Number(http[3]) / 1000).toFixed(0)} kB/s` : '';
  const same = server.complete && server.bytes === bytes && server.contentLength === bytes && server.sha256 === clientSha;
  if (!same) {
    return { ok: false, detail: `server got ${server.bytes} of ${server.contentLength} bytes${server.complete ? '' : ` (incomplete${server.error ? `: ${server.error}` : ''})`}, sha256 ${server.sha256.slice(0, 16)}… vs the client's ${clientSha.slice(0, 16)}… (${bytes} bytes); client: ${flat}` };
  }
  if (server.client !== SERVER_ADDR) return { ok: false, detail: `the upload came from ${server.client || '(unknown)'}, not through the server's masquerade (${SERVER_ADDR})` };
  if (http?.[1] !== '200' || rc !== '0') return { ok: false, detail: `the server has the bytes but curl saw ${http ? `HTTP ${http[1]}` : 'no answer'}, rc=${rc ?? '?'}: ${flat}` };
  return { ok: true, detail: `${bytes} bytes up, sha256 ${clientSha.slice(0, 16)}… matches on the server (from ${server.client}), ${speed}, ${server.seconds.toFixed(1)}s on the server` };
}

/**
 * After the server was told to end the session: wait for pppd to report the hang-up,
 * then keep what each client program logged about it (pppd: LCP Terminate; xl2tpd: the
 * CDN; charon: the IKE Delete of the child SA).
 */
export function hangupWaitJob(guestDir: string, waitS: number): string {
  return `
D=${guestDir}
i=0
while [ $i -lt ${waitS * 2} ]; do
  grep -qiE 'terminated by peer|Modem hangup|Connection terminated' "$D/pppd.log" 2>/dev/null && break
  sleep 0.5; i=$((i+1))
done
# the CDN and the Delete follow the LCP exchange
sleep 3
grep -iE 'terminat|hangup|Connect time|Sent [0-9]+ bytes' "$D/pppd.log" > "$D/hangup-pppd.txt" 2>&1
grep -iE 'CDN|call|disconnect|clos' "$D/xl2tpd.log" > "$D/hangup-xl2tpd.txt" 2>&1
grep -iE 'DELETE|delet|closing|CHILD_SA' "$D/charon.log" > "$D/hangup-charon.txt" 2>&1
ip xfrm state > "$D/hangup-xfrm-state.txt" 2>&1
ip -o link show dev ppp0 > "$D/hangup-ppp0.txt" 2>&1 || echo "no ppp0" >> "$D/hangup-ppp0.txt"
cat "$D/hangup-pppd.txt"
`;
}

/**
 * IKEv2: after the server was told to end the session, wait for charon to log the server's
 * Delete of the IKE SA, then keep what it logged and what is left of its SAs.
 */
export function ikev2HangupWaitJob(guestDir: string, waitS: number): string {
  return `
D=${guestDir}
i=0
while [ $i -lt ${waitS * 2} ]; do
  grep -q 'received DELETE for IKE_SA' "$D/charon.log" 2>/dev/null && break
  sleep 0.5; i=$((i+1))
done
sleep 1
grep -iE 'DELETE|delet|closing|INFORMATIONAL' "$D/charon.log" > "$D/hangup-charon.txt" 2>&1
swanctl --list-sas > "$D/hangup-list-sas.txt" 2>&1
ip xfrm state > "$D/hangup-xfrm-state.txt" 2>&1
cat "$D/hangup-charon.txt"
`;
}

/** After the rekey wait: the SAs again. */
export function rekeyCheckJob(guestDir: string): string {
  return `
D=${guestDir}
swanctl --list-sas > "$D/rekey-list-sas.txt" 2>&1
ip xfrm state > "$D/rekey-xfrm-state.txt" 2>&1
cat "$D/rekey-list-sas.txt"
`;
}

/** Final evidence (the logs are already in the folder). */
export function collectJob(guestDir: string): string {
  return `
D=${guestDir}
swanctl --list-sas > "$D/final-list-sas.txt" 2>&1
ip xfrm state > "$D/final-xfrm-state.txt" 2>&1
ip addr > "$D/final-ip-addr.txt" 2>&1; ip route >> "$D/final-ip-addr.txt" 2>&1
dmesg | tail -n 60 > "$D/dmesg.txt"
echo collected
`;
}

// ---- parsers of the evidence (host side) ----

export function ikeSaUp(listSas: string): boolean {
  return /\bESTABLISHED\b/.test(listSas);
}

/** CHILD SA INSTALLED in transport mode (TRANSPORT or TRANSPORT-in-UDP), and the kernel has an ESP transport state. */
export function ipsecSaUp(listSas: string, xfrmState: string): boolean {
  return /INSTALLED, TRANSPORT/.test(listSas) && /proto esp/.test(xfrmState) && /mode transport/.test(xfrmState);
}

/** An IKEv2 SA up: `swanctl --list-sas` has it ESTABLISHED and IKEv2. */
export function ikev2SaUp(listSas: string): boolean {
  return /\bESTABLISHED, IKEv2\b/.test(listSas);
}

/** A CHILD SA INSTALLED in tunnel mode (TUNNEL or TUNNEL-in-UDP), and the kernel has an ESP tunnel-mode state. */
export function childSaTunnelUp(listSas: string, xfrmState: string): { ok: boolean; udp: boolean; alg: string } {
  const m = /INSTALLED, (TUNNEL(?:-in-UDP)?), [^\n]*?ESP:(\S+)/.exec(listSas);
  const ok = m !== null && /proto esp/.test(xfrmState) && /mode tunnel/.test(xfrmState);
  return { ok, udp: m?.[1] === 'TUNNEL-in-UDP', alg: m?.[2] ?? '' };
}

/** The virtual IP: the address swanctl shows in brackets on the local line, if `ip addr` has it too and it is in the pool. */
export function vipOf(listSas: string, ipAddr: string): { ok: boolean; detail: string } {
  const m = /local\s+'[^']*' @ \S+ \[(\d+\.\d+\.\d+\.\d+)\]/.exec(listSas);
  const vip = m?.[1] ?? '';
  if (vip === '') return { ok: false, detail: 'no virtual IP in swanctl --list-sas' };
  const inPool = /^10\.40\.0\.\d+$/.test(vip);
  const onIf = new RegExp(`inet ${vip.replace(/\./g, '\\.')}/`).test(ipAddr);
  return { ok: inPool && onIf, detail: `${vip}${inPool ? '' : ' (NOT in 10.40.0.0/24)'}${onIf ? ' (in ip addr)' : ' (NOT in ip addr)'}` };
}

/** A fetch through the IKEv2 tunnel: the route takes the virtual IP as source, the SHA-256 matches. */
export function ikev2HttpOk(curlOut: string, routeOut: string, sha256: string, vip: string): { ok: boolean; detail: string } {
  if (vip === '' || !routeOut.includes(`src ${vip}`)) return { ok: false, detail: `not routed from the virtual IP ${vip || '(none)'}: ${routeOut.trim()}` };
  const ok = curlOut.includes(`${sha256}  /tmp/l2s-download`);
  return { ok, detail: ok ? (curlOut.split('\n')[0] ?? '') : `curl/sha256 mismatch: ${curlOut.trim().split('\n').join(' | ')}` };
}

export function espSpis(xfrmState: string): string[] {
  return [...xfrmState.matchAll(/proto esp spi (0x[0-9a-f]+)/g)].map((m) => m[1] ?? '').sort();
}

export function l2tpTunnelUp(xl2tpdLog: string): boolean {
  return /Call established with/.test(xl2tpdLog);
}

export function pppAuthOk(pppdLog: string): boolean {
  return /authentication succeeded/i.test(pppdLog);
}

/** ip-up record `ppp0 LOCAL REMOTE DNS1=.. DNS2=..`: a pool address and the pushed DNS. */
export function pppIpOk(ipup: string): { ok: boolean; detail: string } {
  const line = ipup.trim().split('\n').at(-1) ?? '';
  const m = /^(\S+) (\S+) (\S+) DNS1=(\S*) DNS2=(\S*)/.exec(line);
  if (!m) return { ok: false, detail: 'no ip-up record' };
  const local = m[2] ?? '';
  const inPool = /^10\.40\.0\.\d+$/.test(local);
  const dns = m[4] === TUNNEL_SERVER_ADDR || m[5] === TUNNEL_SERVER_ADDR;
  return { ok: inPool && dns, detail: `${m[1]} local ${local} remote ${m[3]} dns ${m[4] || '-'} ${m[5] || '-'}` };
}

export function pingOk(pingOut: string): boolean {
  const m = /(\d+) (?:packets )?received/.exec(pingOut);
  return m !== null && Number(m[1]) > 0;
}

export function httpOk(curlOut: string, routeOut: string, sha256: string): { ok: boolean; detail: string } {
  if (!/dev ppp0/.test(routeOut)) return { ok: false, detail: `not routed via ppp0: ${routeOut.trim()}` };
  const ok = curlOut.includes(`${sha256}  /tmp/l2s-download`);
  return { ok, detail: ok ? (curlOut.split('\n')[0] ?? '') : `curl/sha256 mismatch: ${curlOut.trim().split('\n').join(' | ')}` };
}

/**
 * L2TP/PPP junk inside the client's own IPsec SA (the `flood` scenario): a second UDP
 * socket on port 1701 (xl2tpd binds it with SO_REUSEADDR, so may we) sends, for a few
 * seconds, L2TP and PPP that a server must drop or reject without ending the session:
 * PPP with unknown protocols (Protocol-Reject), LCP and IPCP with unknown codes
 * (Code-Reject), LCP Echo-Requests, frames with lying lengths, truncated frames, junk
 * as IPv4, data for sessions and tunnels that do not exist, malformed control messages,
 * random bytes. The kernel's policy for udp/1701 puts all of it into the client's SA.
 * No LCP/IPCP Configure or Terminate, no authentication packets: those would end or
 * renegotiate the session by the protocol. While the socket is open it also receives
 * some of the server's L2TP (both sockets bind the port): it is open for `seconds` only.
 */
export function junkJob(guestDir: string, count: number, seconds: number): string {
  return `
D=${guestDir}
ip xfrm state > "$D/junk-xfrm-before.txt" 2>&1
line=$(grep 'Connection established to' "$D/xl2tpd.log" | tail -n 1)
tid=$(echo "$line" | sed -n 's/.*Remote: \\([0-9]*\\).*/\\1/p')
line=$(grep 'Call established with' "$D/xl2tpd.log" | tail -n 1)
sid=$(echo "$line" | sed -n 's/.*Remote: \\([0-9]*\\).*/\\1/p')
echo "server tunnel $tid session $sid" > "$D/junk.txt"
cat > /tmp/l2s-junk.py <<'L2S_EOF'
import os, random, socket, struct, sys, time
server, tid, sid, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 1701))
def data(t, ss, ppp):
    return struct.pack("!HHHH", 0x4002, 8 + len(ppp), t, ss) + ppp
def ppp(proto, body):
    return b"\\xff\\x03" + struct.pack("!H", proto) + body
known = {0xC021, 0x8021, 0xC223, 0xC023, 0x0021, 0x80FD, 0x8057, 0x0057, 0xC025}
def unknown_proto():
    while True:
        p = random.choice([random.randrange(0x0001, 0x3FFF, 2), random.randrange(0x8001, 0xBFFF, 2), random.randrange(0xC001, 0xFFFF, 2)])
        if p not in known:
            return p
kinds = {}
def one():
    k = random.randrange(10)
    r = os.urandom(random.randrange(0, 120))
    if k == 0: return "unknown-protocol", data(tid, sid, ppp(unknown_proto(), r))
    if k == 1:
        code = random.randrange(12, 256); body = os.urandom(random.randrange(0, 40))
        return "lcp-unknown-code", data(tid, sid, ppp(0xC021, struct.pack("!BBH", code, random.randrange(256), 4 + len(body)) + body))
    if k == 2:
        body = os.urandom(4 + random.randrange(0, 40))
        return "lcp-echo-request", data(tid, sid, ppp(0xC021, struct.pack("!BBH", 9, random.randrange(256), 4 + len(body)) + body))
    if k == 3:
        return "lcp-bad-length", data(tid, sid, ppp(0xC021, struct.pack("!BBH", random.choice([9, 10, 11, 13]), 1, random.choice([0, 1, 3, 2000, 65535])) + r[:8]))
    if k == 4:
        code = random.randrange(8, 256); body = os.urandom(random.randrange(0, 20))
        return "ipcp-unknown-code", data(tid, sid, ppp(0x8021, struct.pack("!BBH", code, random.randrange(256), 4 + len(body)) + body))
    if k == 5: return "truncated-ppp", data(tid, sid, os.urandom(random.randrange(0, 4)))
    if k == 6: return "junk-ipv4", data(tid, sid, ppp(0x0021, r))
    if k == 7: return "no-such-session", data(tid, random.choice([0, 1, 65535, sid ^ 0x5555]), ppp(0xC021, struct.pack("!BBH", 9, 1, 8) + os.urandom(4)))
    if k == 8:
        ns, nr = random.randrange(65536), random.randrange(65536)
        return "control-junk", struct.pack("!HHHHHH", 0xC802, 12 + len(r), random.choice([tid, 0, random.randrange(65536)]), 0, ns, nr) + r
    return "random-bytes", os.urandom(random.randrange(1, 200))
gap = seconds / count
t0 = time.monotonic()
for i in range(count):
    kind, pkt = one()
    s.sendto(pkt, (server, 1701))
    kinds[kind] = kinds.get(kind, 0) + 1
    d = t0 + (i + 1) * gap - time.monotonic()
    if d > 0: time.sleep(d)
s.close()
print("sent", count, "in", round(time.monotonic() - t0, 2), "s:", " ".join("%s=%d" % kv for kv in sorted(kinds.items())))
L2S_EOF
[ -n "$tid" ] && [ -n "$sid" ] || { echo "no tunnel/session ids in xl2tpd.log" >> "$D/junk.txt"; exit 3; }
/usr/bin/python3 /tmp/l2s-junk.py ${SERVER_ADDR} "$tid" "$sid" ${count} ${seconds} >> "$D/junk.txt" 2>&1
ip xfrm state > "$D/junk-xfrm-after.txt" 2>&1
cat "$D/junk.txt"
`;
}

/** ESP packets the kernel sent toward `dst`: the output sequence numbers (`oseq`) of its states in `ip xfrm state`. */
export function xfrmOutPackets(xfrmState: string, dst: string): number {
  let total = 0;
  for (const block of xfrmState.split(/\n(?=src )/)) {
    if (!new RegExp(`^src \\S+ dst ${dst.replace(/\./g, '\\.')}\\b`).test(block)) continue;
    total += Number.parseInt(/oseq 0x([0-9a-f]+)/.exec(block)?.[1] ?? '0', 16);
  }
  return total;
}
