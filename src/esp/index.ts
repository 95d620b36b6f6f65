export * from './engine.js';
export * from './natt.js';
export * from './replay.js';
export * from './transforms.js';
export * from './drops.js';
export { endpointKey } from './sa.js';
