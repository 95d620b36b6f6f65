// The timer heaps live in core (the protocol cores use DeadlineQueue too).
export { DeadlineQueue, MinHeap } from '../core/heap.js';
