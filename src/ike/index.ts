/** Public surface of the IKEv1 responder for src/daemon. */
export { IkeResponder, DEFAULT_POLICY } from './responder.js';
export { IKE_LIMIT_DEFAULTS } from './core.js';
export type { IkeOutput, IkeResponderConfig, IkeSaDown, IkeSaUp, SendOutput, ProposalPolicy } from './responder.js';
export type { P1CipherName, P2CipherName, HashAlgName } from './policy.js';
