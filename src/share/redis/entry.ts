// Entry file of the threads that carry shared objects between a caller and
// `tandem worker` hosts (./keys.ts has the picture): in the caller, the share
// thread and the server thread of each holder; on a host, a link thread.
import { workerData } from 'node:worker_threads';
import '../../worker/shared-kinds.js';
import { runLink, type LinkData } from './link.js';
import { serveHolder, serveHosts, type HolderData, type ServeData } from './serve.js';

const data = workerData as ServeData | HolderData | LinkData;
if (data.role === 'serve') void serveHosts(data);
else if (data.role === 'holder') serveHolder(data);
else void runLink(data);
