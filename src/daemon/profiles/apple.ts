import { randomUUID } from 'node:crypto';
import { connectionName, type ProfileInput } from './common.js';

/**
 * An Apple configuration profile (.mobileconfig, an XML property list) with one
 * VPN payload (PayloadType com.apple.vpn.managed, VPNType L2TP), as Apple's
 * Device Management "VPN" payload documents: PPP { CommRemoteAddress, AuthName }
 * (no AuthPassword: the device asks), IPSec { AuthenticationMethod SharedSecret,
 * SharedSecret as <data> }, IPv4 { OverridePrimary 1 } to send all traffic
 * through the tunnel.
 */

export type PlistValue = string | number | boolean | Uint8Array | PlistValue[] | { [key: string]: PlistValue };

export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function plistValue(v: PlistValue, indent: string): string {
  if (typeof v === 'string') return `${indent}<string>${xmlEscape(v)}</string>`;
  if (typeof v === 'number') return Number.isInteger(v) ? `${indent}<integer>${v}</integer>` : `${indent}<real>${v}</real>`;
  if (typeof v === 'boolean') return `${indent}<${v ? 'true' : 'false'}/>`;
  if (v instanceof Uint8Array) return `${indent}<data>${Buffer.from(v).toString('base64')}</data>`;
  if (Array.isArray(v)) return [`${indent}<array>`, ...v.map((x) => plistValue(x, indent + '\t')), `${indent}</array>`].join('\n');
  const lines = [`${indent}<dict>`];
  for (const [k, x] of Object.entries(v)) {
    lines.push(`${indent}\t<key>${xmlEscape(k)}</key>`, plistValue(x, indent + '\t'));
  }
  lines.push(`${indent}</dict>`);
  return lines.join('\n');
}

/** A whole XML property list document. */
export function plist(root: PlistValue): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    plistValue(root, ''),
    '</plist>',
    '',
  ].join('\n');
}

export interface AppleProfileOptions {
  /** UUID generator (tests pass a fixed one). */
  uuid?: () => string;
}

export function appleProfile(p: ProfileInput, opts: AppleProfileOptions = {}): string {
  const uuid = opts.uuid ?? randomUUID;
  const vpnUuid = uuid().toUpperCase();
  const topUuid = uuid().toUpperCase();
  const name = connectionName(p);
  const vpn: PlistValue = {
    PayloadType: 'com.apple.vpn.managed',
    PayloadVersion: 1,
    PayloadIdentifier: `net.l2tpsec.vpn.${vpnUuid}`,
    PayloadUUID: vpnUuid,
    PayloadDisplayName: name,
    PayloadDescription: `L2TP/IPsec VPN to ${p.server} as ${p.user}`,
    UserDefinedName: name,
    VPNType: 'L2TP',
    PPP: {
      CommRemoteAddress: p.server,
      AuthName: p.user,
      // No AuthPassword: iOS/macOS ask for it at connect time.
    },
    IPSec: {
      AuthenticationMethod: 'SharedSecret',
      SharedSecret: new Uint8Array(Buffer.from(p.psk, 'utf8')),
    },
    IPv4: {
      OverridePrimary: 1,
    },
  };
  return plist({
    PayloadType: 'Configuration',
    PayloadVersion: 1,
    PayloadIdentifier: `net.l2tpsec.profile.${topUuid}`,
    PayloadUUID: topUuid,
    PayloadDisplayName: name,
    PayloadDescription: `Adds the L2TP/IPsec VPN "${name}". The password is asked when connecting.`,
    PayloadRemovalDisallowed: false,
    PayloadContent: [vpn],
  });
}
