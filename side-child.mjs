import { Worker } from 'node:worker_threads';
const sab = new SharedArrayBuffer(16);
const claims = new Int32Array(sab);
new Worker(`
const { workerData } = require('node:worker_threads');
const net = require('node:net');
const claims = new Int32Array(workerData.sab);
const sock = new net.Socket({ fd: 4, readable: true, writable: true });
sock.on('data', (d) => { const ok = Atomics.compareExchange(claims, 0, 8, -2) === 8; sock.write('answer ' + d.toString().trim() + ' ' + ok + '\\n'); });
`, { eval: true, workerData: { sab } }).unref();
claims[0] = 8;
process.send('child busy now');
const end = Date.now() + 1500; while (Date.now() < end); // main thread blocked
process.send('child free, claim=' + claims[0]);
