import { androidProfile } from './android.js';
import { appleProfile, type AppleProfileOptions } from './apple.js';
import type { ProfileInput, ProfileKind } from './common.js';
import { linuxProfile } from './linux.js';
import { windowsProfile } from './windows.js';

export * from './common.js';
export { appleProfile, plist, xmlEscape, type PlistValue, type AppleProfileOptions } from './apple.js';
export { windowsProfile, psQuote } from './windows.js';
export { linuxProfile, nmEscape, nmVpnData, shQuote, NM_IPSEC_ESP, NM_IPSEC_IKE } from './linux.js';
export { androidProfile } from './android.js';

/** The profile text for one client kind. */
export function renderProfile(kind: ProfileKind, p: ProfileInput, opts: AppleProfileOptions = {}): string {
  switch (kind) {
    case 'apple':
      return appleProfile(p, opts);
    case 'windows':
      return windowsProfile(p);
    case 'linux':
      return linuxProfile(p);
    case 'android':
      return androidProfile(p);
  }
}
