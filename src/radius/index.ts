export * from './attributes.js';
export * from './crypto.js';
export * from './dictionary.js';
export * from './packet.js';
export * from './client.js';
export * from './accounting.js';
export * from './mschapv2.js';
export * from './dynauth.js';
