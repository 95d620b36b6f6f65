import { androidIkev2PskSteps, androidIkev2Steps, androidProfile, sswanProfile, type SswanOptions } from './android.js';
import { appleIkev2Profile, appleProfile, type AppleProfileOptions } from './apple.js';
import type { Ikev2ProfileInput, ProfileInput, ProfileKind } from './common.js';
import { linuxIkev2Profile, linuxProfile } from './linux.js';
import { windowsIkev2Profile, windowsProfile } from './windows.js';

export * from './common.js';
export * from './suite.js';
export { appleProfile, appleIkev2Profile, plist, xmlEscape, type PlistValue, type AppleProfileOptions } from './apple.js';
export { windowsProfile, windowsIkev2Profile, psQuote } from './windows.js';
export { linuxProfile, linuxIkev2Profile, linuxCaPath, nmEscape, nmVpnData, nmStrongswanData, shQuote, NM_IPSEC_ESP, NM_IPSEC_IKE, NM_STRONGSWAN_SERVICE } from './linux.js';
export { androidProfile, androidIkev2Steps, androidIkev2PskSteps, sswanProfile, type SswanOptions } from './android.js';

/** The L2TP/IPsec profile text for one client kind. */
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

export interface Ikev2RenderOptions extends AppleProfileOptions, SswanOptions {
  /** android: the strongSwan app's .sswan file instead of the built-in client's steps. */
  sswan?: boolean;
  /** android: the built-in client's "IKEv2/IPSec PSK" steps (per-user key). */
  psk?: boolean;
}

/** The IKEv2 profile text for one client kind. */
export function renderIkev2Profile(kind: ProfileKind, p: Ikev2ProfileInput, opts: Ikev2RenderOptions = {}): string {
  switch (kind) {
    case 'apple':
      return appleIkev2Profile(p, opts);
    case 'windows':
      return windowsIkev2Profile(p);
    case 'linux':
      return linuxIkev2Profile(p);
    case 'android':
      if (opts.psk) return androidIkev2PskSteps(p);
      return opts.sswan ? sswanProfile(p, opts) : androidIkev2Steps(p);
  }
}
