import { connectionName, type ProfileInput } from './common.js';

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
