/** Moved to core/mschap/des.ts (shared with IKEv2's EAP-MSCHAPv2); kept so PPP's importers do not change. */
export * from '../core/mschap/des.js';
