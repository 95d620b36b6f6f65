/**
 * The sessions layer as the host sees it: the pipeline, its ports and table,
 * and the two things the host hands to I/O on the pipeline's behalf (the
 * NAT-T classifier for the UDP socket, the kernel's forwarding rules).
 */
export { Pipeline, espLabel, type PipelineOptions, type SessionView, type UserDirectory } from './pipeline.js';
export type { Ikev2Options } from './ikev2.js';
export type { PipelineEvent, PipelineSink, TunPort, UdpPort } from './ports.js';
export { SessionTable, type EndedSession, type SessionHandle, type SessionKind, type SessionRecord } from './table.js';
export { classifyNatt } from '../esp/natt.js';
export { mssForMtu, nftRules } from '../nat/rules.js';
export type { EapRemoteAttempt, EapVerdict, RemoteAttempt, RemoteAuthPort, RemoteVerdict } from './remote-auth.js';
