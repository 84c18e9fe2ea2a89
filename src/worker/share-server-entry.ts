// Entry file of a server thread: acts on the caller's shared objects for one
// child process (src/share/host.ts starts it, src/share/server.ts is what it does).
import { parentPort, workerData } from 'node:worker_threads';
import './shared-kinds.js';
import { installThreadGlobals } from '../shareable.js';
import { ShareServer, type Registration } from '../share/server.js';
import { listen, removeSocket } from '../share/socket.js';

const data = workerData as { path: string; threadGlobals: Record<string, unknown> | null; objects: Registration[] };
installThreadGlobals(data.threadGlobals);
const server = new ShareServer();
for (const registration of data.objects) server.register(registration);
parentPort!.on('message', (registration: Registration) => server.register(registration));
const listener = listen(data.path, (transport) => {
  server.serve(transport);
  // One child, one connection: the socket's name is of no use any more, and a
  // caller killed before this thread ends would leave it behind.
  listener.close();
  removeSocket(data.path);
  // The child is gone (it exited, was killed, or closed the link): end, so
  // that this thread's exit frees what it held for the child. Its SharedQueue
  // puts still waiting for room go to the caller's main thread first.
  transport.onGone(() => {
    void server.gone(transport).then((orphans) => {
      if (orphans.length > 0) parentPort!.postMessage({ orphans });
      process.exit(0);
    });
  });
});
