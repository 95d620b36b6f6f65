import { randomUUID } from 'node:crypto';
import { connectionName, type Ikev2ProfileInput, type ProfileInput } from './common.js';
import { APPLE_CHILD_SA, APPLE_IKE_SA } from './suite.js';

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
  return configurationProfile(topUuid, name, `Adds the L2TP/IPsec VPN "${name}". The password is asked when connecting.`, [vpn]);
}

/**
 * An Apple configuration profile with an IKEv2 VPN payload (VPNType IKEv2, the keys of
 * Apple's Device Management "VPN.IKEv2" dictionary): the server authenticates with its
 * certificate (AuthenticationMethod Certificate) and the user with EAP
 * (ExtendedAuthEnabled 1, AuthName; no password: the device asks), RemoteIdentifier =
 * the server's ID, the proposals of suite.ts with PFS, DPD every 10 minutes, MOBIKE on;
 * plus the CA as a com.apple.security.root payload when the chain is not publicly trusted.
 */
export function appleIkev2Profile(p: Ikev2ProfileInput, opts: AppleProfileOptions = {}): string {
  const uuid = opts.uuid ?? randomUUID;
  const vpnUuid = uuid().toUpperCase();
  const topUuid = uuid().toUpperCase();
  const name = connectionName(p);
  const ikev2: { [key: string]: PlistValue } = {
    RemoteAddress: p.server,
    RemoteIdentifier: p.remoteId,
    LocalIdentifier: p.user,
    AuthenticationMethod: 'Certificate',
    ExtendedAuthEnabled: 1,
    AuthName: p.user,
    // No AuthPassword: iOS/macOS ask for it at connect time.
  };
  // Makes the device send a CERTREQ for our CA and check the issuer's name.
  if (p.issuerCommonName) ikev2['ServerCertificateIssuerCommonName'] = p.issuerCommonName;
  if (p.serverCommonName) ikev2['ServerCertificateCommonName'] = p.serverCommonName;
  Object.assign(ikev2, {
    IKESecurityAssociationParameters: { ...APPLE_IKE_SA },
    ChildSecurityAssociationParameters: { ...APPLE_CHILD_SA },
    EnablePFS: 1,
    DeadPeerDetectionRate: 'Medium',
    DisableMOBIKE: 0,
  });
  const payloads: PlistValue[] = [];
  if (p.ca) {
    const caUuid = uuid().toUpperCase();
    payloads.push({
      PayloadType: 'com.apple.security.root',
      PayloadVersion: 1,
      PayloadIdentifier: `net.l2tpsec.ca.${caUuid}`,
      PayloadUUID: caUuid,
      PayloadDisplayName: p.ca.commonName ?? 'l2tpsec CA',
      PayloadCertificateFileName: 'ca.crt',
      PayloadContent: new Uint8Array(p.ca.der),
    });
  }
  payloads.push({
    PayloadType: 'com.apple.vpn.managed',
    PayloadVersion: 1,
    PayloadIdentifier: `net.l2tpsec.vpn.${vpnUuid}`,
    PayloadUUID: vpnUuid,
    PayloadDisplayName: name,
    PayloadDescription: `IKEv2 VPN to ${p.server} as ${p.user}`,
    UserDefinedName: name,
    VPNType: 'IKEv2',
    IKEv2: ikev2,
    IPv4: { OverridePrimary: 1 },
  });
  return configurationProfile(
    topUuid,
    name,
    `Adds the IKEv2 VPN "${name}"${p.ca ? ' and the certificate authority of its server' : ''}. The password is asked when connecting.`,
    payloads,
  );
}

/** The top-level Configuration profile around the payloads (removable by the user). */
function configurationProfile(topUuid: string, name: string, description: string, content: PlistValue[]): string {
  return plist({
    PayloadType: 'Configuration',
    PayloadVersion: 1,
    PayloadIdentifier: `net.l2tpsec.profile.${topUuid}`,
    PayloadUUID: topUuid,
    PayloadDisplayName: name,
    PayloadDescription: description,
    PayloadRemovalDisallowed: false,
    PayloadContent: content,
  });
}
