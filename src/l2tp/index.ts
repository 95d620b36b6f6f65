export * from './constants.js';
export * from './header.js';
export * from './avp.js';
export * from './hidden.js';
export * from './attributes.js';
export * from './reliable.js';
export * from './messages.js';
export { DATA_HEADROOM, L2tpServer } from './server.js';
export * from './types.js';
