import { connectionName, type Ikev2ProfileInput, type ProfileInput } from './common.js';
import { WINDOWS_IPSEC } from './suite.js';

/** A PowerShell single-quoted string literal: only ' needs escaping (doubled). */
export function psQuote(s: string): string {
  return `'${s.replace(/'/g, "''").replace(/[\u2018\u2019\u201a\u201b]/g, (c) => c + c)}'`;
}

const NAT_NOTE = [
  '# NAT: Windows refuses L2TP/IPsec (error 809) when the server OR this computer is',
  '# behind NAT, unless this registry value is set (then reboot):',
  '#   HKLM\\SYSTEM\\CurrentControlSet\\Services\\PolicyAgent',
  '#   AssumeUDPEncapsulationContextOnSendRule (DWORD) = 2',
  '# The command (elevated PowerShell), then reboot:',
  "#   New-ItemProperty -Path 'HKLM:\\SYSTEM\\CurrentControlSet\\Services\\PolicyAgent' -Name AssumeUDPEncapsulationContextOnSendRule -PropertyType DWord -Value 2 -Force",
];

/**
 * A PowerShell script that adds the connection with Add-VpnConnection
 * (VpnClient module): L2TP with a PSK, MS-CHAPv2, encryption required, all
 * traffic through the tunnel (split tunnelling off, the default).
 */
export function windowsProfile(p: ProfileInput): string {
  const name = connectionName(p);
  const lines: string[] = ['# l2tpsec: L2TP/IPsec VPN profile for Windows 10/11', `# Server ${p.server}, user ${p.user}. Run in PowerShell.`, '#'];
  if (p.serverBehindNat) {
    lines.push(
      '# ############################################################################',
      '# IMPORTANT: this server is behind NAT. Set the registry value below and reboot',
      '# BEFORE connecting, or Windows fails with error 809.',
      '# ############################################################################',
      ...NAT_NOTE,
      '#   Set it to 2 now with this script: run it with -SetNatRegistry from an elevated PowerShell.',
    );
  } else {
    lines.push(...NAT_NOTE);
  }
  lines.push(
    '',
    'param([switch]$SetNatRegistry)',
    '',
    'if ($SetNatRegistry) {',
    "  New-ItemProperty -Path 'HKLM:\\SYSTEM\\CurrentControlSet\\Services\\PolicyAgent' -Name AssumeUDPEncapsulationContextOnSendRule -PropertyType DWord -Value 2 -Force | Out-Null",
    "  Write-Host 'Registry value set; reboot before connecting.'",
    '}',
    '',
    'Add-VpnConnection `',
    `  -Name ${psQuote(name)} \``,
    `  -ServerAddress ${psQuote(p.server)} \``,
    '  -TunnelType L2tp `',
    `  -L2tpPsk ${psQuote(p.psk)} \``,
    '  -AuthenticationMethod MSChapv2 `',
    '  -EncryptionLevel Required `',
    '  -RememberCredential `',
    '  -Force',
    '',
    `Write-Host ${psQuote(`Added VPN "${name}". Connect from Settings > Network > VPN, user name ${p.user}; Windows asks for the password.`)}`,
    '',
  );
  return lines.join('\r\n');
}

/** Base64 in lines of 64 characters, as single-quoted PowerShell strings joined with +. */
function psBase64(der: Buffer): string[] {
  const b64 = der.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return lines.map((l, i) => `  '${l}'${i + 1 < lines.length ? ' +' : ''}`);
}

/**
 * A PowerShell script for Windows 10/11 that adds an IKEv2 connection
 * (Add-VpnConnection -TunnelType Ikev2 -AuthenticationMethod Eap: the default EAP
 * configuration is EAP-MSCHAPv2, user name and password asked at connect time), pins the
 * proposals of suite.ts with Set-VpnConnectionIPsecConfiguration (else Windows offers
 * modp1024 only), and imports the CA into LocalMachine\Root when the chain is not
 * publicly trusted (that needs an elevated PowerShell, hence #Requires).
 */
export function windowsIkev2Profile(p: Ikev2ProfileInput): string {
  const name = connectionName(p);
  const w = WINDOWS_IPSEC;
  const lines: string[] = [
    '# l2tpsec: IKEv2 VPN profile for Windows 10/11',
    `# Server ${p.server} (certificate for ${p.remoteId}), user ${p.user}. Run in PowerShell${p.ca ? ' as Administrator (it installs the server\'s CA)' : ''}.`,
    '# Windows checks that the server certificate names the address below: dial that name.',
  ];
  if (p.ca) lines.push('#Requires -RunAsAdministrator');
  lines.push('', "$ErrorActionPreference = 'Stop'", '');
  if (p.ca) {
    lines.push(
      `# The certificate authority that signed the server's certificate${p.ca.commonName ? ` (${p.ca.commonName.replace(/[\r\n]/g, ' ')})` : ''}`,
      '$caBase64 =',
      ...psBase64(p.ca.der),
      "$caFile = Join-Path -Path $env:TEMP -ChildPath 'l2tpsec-ca.cer'",
      '[System.IO.File]::WriteAllBytes($caFile, [System.Convert]::FromBase64String($caBase64))',
      "Import-Certificate -FilePath $caFile -CertStoreLocation 'Cert:\\LocalMachine\\Root' | Out-Null",
      'Remove-Item -LiteralPath $caFile',
      '',
    );
  }
  lines.push(
    'Add-VpnConnection `',
    `  -Name ${psQuote(name)} \``,
    `  -ServerAddress ${psQuote(p.server)} \``,
    '  -TunnelType Ikev2 `',
    '  -AuthenticationMethod Eap `',
    '  -EncryptionLevel Required `',
    '  -RememberCredential `',
    '  -Force',
    '',
    '# The proposals the server prefers (Windows alone would offer modp1024 only).',
    'Set-VpnConnectionIPsecConfiguration `',
    `  -ConnectionName ${psQuote(name)} \``,
    `  -EncryptionMethod ${w.EncryptionMethod} \``,
    `  -IntegrityCheckMethod ${w.IntegrityCheckMethod} \``,
    `  -DHGroup ${w.DHGroup} \``,
    `  -CipherTransformConstants ${w.CipherTransformConstants} \``,
    `  -AuthenticationTransformConstants ${w.AuthenticationTransformConstants} \``,
    `  -PfsGroup ${w.PfsGroup} \``,
    '  -Force',
    '',
    `Write-Host ${psQuote(`Added VPN "${name}". Connect from Settings > Network > VPN, user name ${p.user}; Windows asks for the password.`)}`,
    '',
  );
  return lines.join('\r\n');
}
