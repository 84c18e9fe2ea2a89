// Modules imported here register the shareable kinds (see ../shareable.ts) that
// a worker must be able to rebuild from a marker. They are imported for their
// side effect only, so that a worker rebuilds a Lock even when the task module
// never imports tandem's sync module itself.
import '../sync/index.js';
import '../shared/index.js';
