import { randomUUID } from 'node:crypto';
import { connectionName, type Ikev2ProfileInput, type ProfileInput } from './common.js';
import { STRONGSWAN_ESP, STRONGSWAN_IKE } from './suite.js';

/** Step-by-step text for Android's built-in L2TP client (Android 11 and older). */
export function androidProfile(p: ProfileInput): string {
  const name = connectionName(p);
  return [
    `L2TP/IPsec VPN "${name}" on Android (up to Android 11)`,
    '',
    '1. Open Settings → Network & internet → VPN (on some phones: Connections → More connection settings → VPN).',
    '2. Tap "+" (Add VPN).',
    `3. Name: ${name}`,
    '4. Type: L2TP/IPSec PSK',
    `5. Server address: ${p.server}`,
    '6. L2TP secret: leave empty (not used).',
    '7. IPSec identifier: LEAVE EMPTY. With an identifier Android uses IKE Aggressive Mode,',
    '   which this server refuses (it is unsafe with a pre-shared key).',
    `8. IPSec pre-shared key: ${p.psk}`,
    `9. Username: ${p.user}`,
    '10. Password: your password (or leave it empty and type it when connecting).',
    '11. Save, then tap the VPN to connect.',
    '',
    'Android 12 and newer cannot create L2TP/IPsec profiles any more (only IKEv2);',
    'profiles made before an upgrade keep working. On those phones use another device',
    'type or a third-party L2TP client.',
    '',
  ].join('\n');
}

const INSTALL_CA = [
  '   On the phone: Settings → Security (or Security & privacy) → More security settings →',
  '   Encryption & credentials → Install a certificate → CA certificate, then pick the file.',
];

/**
 * Step-by-step text for Android 12+'s built-in IKEv2 client, type "IKEv2/IPSec MSCHAPv2":
 * the server address must be the server's identity (Android sends it as IDr and checks
 * the certificate against it), the CA to install (as PEM at the end when there is one).
 */
export function androidIkev2Steps(p: Ikev2ProfileInput): string {
  const name = connectionName(p);
  const lines = [`IKEv2 VPN "${name}" on Android 12 and newer (built-in client)`, ''];
  let n = 1;
  if (p.ca) {
    lines.push(`${n++}. Install the server's certificate authority${p.ca.commonName ? ` "${p.ca.commonName}"` : ''}: copy the`, '   certificate at the end of this text to the phone as a file named l2tpsec-ca.crt.', ...INSTALL_CA);
  }
  lines.push(
    `${n++}. Open Settings → Network & internet → VPN (on some phones: Connections → More connection settings → VPN), tap "+".`,
    `${n++}. Name: ${name}`,
    `${n++}. Type: IKEv2/IPSec MSCHAPv2`,
    `${n++}. Server address: ${p.server}`,
    `${n++}. IPSec identifier: ${p.user}`,
    `${n++}. IPSec CA certificate: ${p.ca ? `the one installed in step 1${p.ca.commonName ? ` (${p.ca.commonName})` : ''}` : '(use system certificates: the server\'s certificate is publicly trusted)'}`,
    `${n++}. IPSec server certificate: (received from server)`,
    `${n++}. Username: ${p.user}`,
    `${n++}. Password: your password (or leave it empty and type it when connecting).`,
    `${n++}. Save, then tap the VPN to connect.`,
    '',
  );
  if (p.server !== p.remoteId) {
    lines.push(`Note: Android checks the server's certificate against the server address; the certificate names ${p.remoteId}.`, '');
  }
  lines.push(`Or use the strongSwan VPN Client app: "l2tpsec profile android ${p.user} --type ikev2 --sswan --out ${p.user}.sswan"`, 'on the server writes a file the app imports (with the certificate authority in it).', '');
  if (p.ca) lines.push('The certificate authority (save from BEGIN to END as l2tpsec-ca.crt):', '', p.ca.pem.trim(), '');
  return lines.join('\n');
}

/**
 * Steps for Android's "IKEv2/IPSec PSK" type with a per-user key: the IPSec identifier
 * (the identity the phone sends) selects the user on the server. The key itself is the
 * one `l2tpsec users add NAME --ikev2-psk` printed; it is in no file we write.
 */
export function androidIkev2PskSteps(p: Pick<Ikev2ProfileInput, 'server' | 'remoteId' | 'user' | 'name'>): string {
  const name = connectionName(p);
  return [
    `IKEv2 VPN "${name}" with a pre-shared key on Android 12 and newer (built-in client)`,
    '',
    '1. Open Settings → Network & internet → VPN (on some phones: Connections → More connection settings → VPN), tap "+".',
    `2. Name: ${name}`,
    '3. Type: IKEv2/IPSec PSK',
    `4. Server address: ${p.server}`,
    `5. IPSec identifier: ${p.user}   (exactly this: the server finds the user and the key by it)`,
    `6. IPSec pre-shared key: the key printed once by "l2tpsec users add ${p.user} --ikev2-psk"`,
    '   on the server (this profile does not contain it: send it to the user separately).',
    '7. Save, then tap the VPN to connect.',
    '',
  ].join('\n');
}

/** The strongSwan app's profile options (tests pass a fixed UUID). */
export interface SswanOptions {
  uuid?: () => string;
}

/**
 * The strongSwan VPN Client for Android's import format (.sswan, JSON, UTF-8, media type
 * application/vnd.strongswan.profile): type ikev2-eap, remote.addr/id, remote.cert (the
 * CA, base64 DER), local.eap_id, and the proposals of suite.ts.
 */
export function sswanProfile(p: Ikev2ProfileInput, opts: SswanOptions = {}): string {
  const remote: Record<string, string> = { addr: p.server, id: p.remoteId };
  if (p.ca) remote['cert'] = p.ca.der.toString('base64');
  const profile = {
    uuid: (opts.uuid ?? randomUUID)(),
    name: connectionName(p),
    type: 'ikev2-eap',
    remote,
    local: { eap_id: p.user },
    'ike-proposal': STRONGSWAN_IKE,
    'esp-proposal': STRONGSWAN_ESP,
  };
  return JSON.stringify(profile, null, 2) + '\n';
}
