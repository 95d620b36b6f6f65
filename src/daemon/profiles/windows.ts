import { connectionName, type ProfileInput } from './common.js';

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
