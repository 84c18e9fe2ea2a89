// Entry file of a thread worker started from tandem's own build.
import { serveThread } from './thread-serve.js';

serveThread();
