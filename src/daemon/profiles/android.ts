import { connectionName, type ProfileInput } from './common.js';

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
