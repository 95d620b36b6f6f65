import { connectionName, type Ikev2ProfileInput, type ProfileInput } from './common.js';
import { STRONGSWAN_ESP, STRONGSWAN_IKE } from './suite.js';

/** POSIX shell single quoting: safe for any byte but NUL. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * nmcli's vpn.data syntax is "key = value, key = value"; a ',' or '\' inside a
 * value is escaped with '\' (libnm nm_utils_escape for vpn data items).
 */
export function nmEscape(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/,/g, '\\,');
}

/** The proposals our responder accepts and NetworkManager-l2tp understands (strongSwan/Libreswan syntax). */
export const NM_IPSEC_IKE = 'aes128-sha1-modp2048';
export const NM_IPSEC_ESP = 'aes128-sha1';

export function nmVpnData(p: ProfileInput): Array<[string, string]> {
  return [
    ['gateway', p.server],
    ['user', p.user],
    ['password-flags', '2'], // NM_SETTING_SECRET_FLAG_NOT_SAVED: asked at every connect
    ['ipsec-enabled', 'yes'],
    ['ipsec-psk', p.psk], // read as a secret or, as here, a legacy data item (nm-l2tp-service.c)
    ['ipsec-ike', NM_IPSEC_IKE],
    ['ipsec-esp', NM_IPSEC_ESP],
    ['mru', '1400'],
    ['mtu', '1400'],
    ['refuse-pap', 'yes'],
    ['refuse-chap', 'yes'],
    ['refuse-mschap', 'yes'],
    ['refuse-eap', 'yes'],
  ];
}

/**
 * A shell script with one `nmcli connection add type vpn vpn-type l2tp` command
 * for NetworkManager-l2tp (package network-manager-l2tp). The password is not
 * stored (password-flags 2): `nmcli connection up NAME --ask` asks for it.
 */
export function linuxProfile(p: ProfileInput): string {
  const name = connectionName(p);
  const data = nmVpnData(p)
    .map(([k, v]) => `${k} = ${nmEscape(v)}`)
    .join(', ');
  return [
    '#!/bin/sh',
    '# l2tpsec: L2TP/IPsec VPN profile for Linux (NetworkManager + NetworkManager-l2tp)',
    '# Needs: network-manager-l2tp (Debian/Ubuntu) or NetworkManager-l2tp (Fedora), with strongSwan or Libreswan.',
    `# Server ${p.server}, user ${p.user}. The password is asked when connecting.`,
    'set -e',
    `nmcli connection add type vpn vpn-type l2tp con-name ${shQuote(name)} ifname '*' \\`,
    `  vpn.data ${shQuote(data)}`,
    `echo ${shQuote(`Added. Connect with: nmcli connection up '${name.replace(/'/g, `'\\''`)}' --ask`)}`,
    '',
  ].join('\n');
}

/** NetworkManager's service name of the strongSwan plugin (package network-manager-strongswan). */
export const NM_STRONGSWAN_SERVICE = 'org.freedesktop.NetworkManager.strongswan';

/** Where the script puts the CA by default (strongSwan's CA folder; CA_FILE=... overrides). */
export function linuxCaPath(p: Pick<Ikev2ProfileInput, 'remoteId'>): string {
  return `/etc/ipsec.d/cacerts/l2tpsec-${p.remoteId.replace(/[^A-Za-z0-9_.-]/g, '_')}.crt`;
}

/**
 * vpn.data of a NetworkManager-strongswan connection, with the keys charon-nm reads
 * (strongSwan src/charon-nm/nm/nm_service.c): address, certificate (the CA file; none =
 * the system's CAs), remote-identity, method eap, user, virtual yes (ask for an inner IP),
 * encap no, ipcomp no, proposal yes with ike/esp, and password-flags 2 (asked each time).
 */
export function nmStrongswanData(p: Ikev2ProfileInput, caFile: string | undefined): Array<[string, string]> {
  return [
    ['address', p.server],
    ...(caFile !== undefined ? ([['certificate', caFile]] as Array<[string, string]>) : []),
    ['remote-identity', p.remoteId],
    ['method', 'eap'],
    ['user', p.user],
    ['password-flags', '2'],
    ['virtual', 'yes'],
    ['encap', 'no'],
    ['ipcomp', 'no'],
    ['proposal', 'yes'],
    ['ike', STRONGSWAN_IKE],
    ['esp', STRONGSWAN_ESP],
  ];
}

/**
 * A shell script (run as root) that saves the CA to CA_FILE (default linuxCaPath) and adds
 * an IKEv2 connection for the NetworkManager strongSwan plugin with one
 * `nmcli connection add type vpn vpn-type org.freedesktop.NetworkManager.strongswan`.
 */
export function linuxIkev2Profile(p: Ikev2ProfileInput): string {
  const name = connectionName(p);
  const caDefault = linuxCaPath(p);
  const data = nmStrongswanData(p, p.ca ? '@CA_FILE@' : undefined)
    .map(([k, v]) => `${k} = ${nmEscape(v)}`)
    .join(', ');
  const lines = [
    '#!/bin/sh',
    '# l2tpsec: IKEv2 VPN profile for Linux (NetworkManager + the strongSwan plugin)',
    '# Needs: network-manager-strongswan (Debian/Ubuntu) or NetworkManager-strongswan (Fedora).',
    `# Server ${p.server} (certificate for ${p.remoteId}), user ${p.user}. The password is asked when connecting.`,
    '# Run as root: sudo sh THIS-FILE',
    'set -e',
  ];
  if (p.ca) {
    lines.push(
      `CA_FILE=\${CA_FILE:-${shQuote(caDefault)}}`,
      'mkdir -p "$(dirname "$CA_FILE")"',
      "cat > \"$CA_FILE\" <<'L2TPSEC_CA'",
      p.ca.pem.trim(),
      'L2TPSEC_CA',
      'chmod 644 "$CA_FILE"',
      // the CA path goes into vpn.data: escape it for nmcli (\\ and \,) in the shell
      'CA_NM=$(printf \'%s\' "$CA_FILE" | sed -e \'s/\\\\/\\\\\\\\/g\' -e \'s/,/\\\\,/g\')',
    );
  }
  const quoted = shQuote(data);
  // splice the (escaped) CA path into the single-quoted vpn.data: '...'"$CA_NM"'...'
  const vpnData = p.ca ? quoted.replace('@CA_FILE@', `'"$CA_NM"'`) : quoted;
  lines.push(
    `nmcli connection add type vpn vpn-type ${NM_STRONGSWAN_SERVICE} con-name ${shQuote(name)} ifname '*' \\`,
    `  vpn.data ${vpnData}`,
    `echo ${shQuote(`Added. Connect with: nmcli connection up '${name.replace(/'/g, `'\\''`)}' --ask`)}`,
    '',
  );
  return lines.join('\n');
}
