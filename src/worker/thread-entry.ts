// Entry file of a thread worker: wires the runtime to the parent port.
import { parentPort } from 'node:worker_threads';
import './shared-kinds.js';
import { WorkerRuntime } from './runtime.js';
import { markWorkerThread } from './current.js';

markWorkerThread();

const port = parentPort!;
const runtime = new WorkerRuntime({
  send: (batch) => port.postMessage(batch),
  // Ends only this thread, even if a task left timers or sockets open.
  exit: (code) => process.exit(code),
});
port.on('message', (batch: unknown[]) => runtime.handle(batch));
