/**
 * Data in shared memory that thread workers read and update in place:
 * SharedValue, SharedArray and SharedQueue.
 */
export { SharedValue } from './value.js';
export { SharedArray } from './array.js';
export { SharedQueue, type SharedQueueOptions } from './queue.js';
export type { SharedNumberType, ElementOf, ViewOf, SharedViews } from './cells.js';
export { QueueClosedError } from '../errors.js';
