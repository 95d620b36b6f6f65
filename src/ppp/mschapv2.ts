/** Moved to core/mschap/mschapv2.ts (shared with IKEv2's EAP-MSCHAPv2); kept so PPP's importers do not change. */
export * from '../core/mschap/mschapv2.js';
