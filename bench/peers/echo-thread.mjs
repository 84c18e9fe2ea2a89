// Raw postMessage floor (scenario 4): a worker thread that posts every message straight back.
import { parentPort } from 'node:worker_threads';

parentPort.on('message', (m) => parentPort.postMessage(m));
