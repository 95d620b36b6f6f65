/** Public surface of the IKEv2 responder for src/session (not wired into the daemon yet). */
export { Ikev2Responder, HALF_OPEN_TIMEOUT_MS } from './responder.js';
export type { Ikev2AuthConfig, Ikev2Output, Ikev2ResponderConfig, Ikev2Sa, IkeSaInitDone, IkeSaUp, SendOutput } from './responder.js';
export { DEFAULT_IKEV2_POLICY, withoutModp1024, type Ikev2Policy, type IkeSuite } from './policy.js';
export { peekMajorVersion } from './wire/header.js';
export { EapMschapv2Server, type EapMschapv2Hooks, type EapRemoteAttempt, type EapRemoteVerdict, type EapStep, type EapUser } from './eap/mschapv2-server.js';
export { FragmentReassembler, DEFAULT_REASSEMBLY, type ReassemblyLimits } from './fragments.js';
