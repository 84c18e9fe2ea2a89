// Entry file of a child-process worker started from tandem's own build.
import { serveProcess } from './process-serve.js';

serveProcess();
