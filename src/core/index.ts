export * from './bytes.js';
export * from './clock.js';
export * from './counters.js';
export * from './drops.js';
export * from './errors.js';
export * from './ipv4.js';
export * from './log.js';
export * from './sa.js';
