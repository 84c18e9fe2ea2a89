/**
 * Where a shared object cannot reach a process worker, said at submit (when
 * the object is encoded for the child), not later inside the child.
 */
import { SharedObjectUnavailableError } from '../errors.js';
import { appBundle, codeFile } from '../location.js';

let checked = false;

/** Throws unless this caller can serve shared objects to child processes. */
export function assertCanServeProcesses(): void {
  if (checked) return;
  if (appBundle() !== null || codeFile === null) {
    throw new SharedObjectUnavailableError(
      "a shared object cannot be passed to a process worker when tandem runs from an app's bundle: the thread that acts for the child " +
        "on the caller's side starts from tandem's own worker files",
      'use the thread backend for shared objects, or keep tandem out of the bundle (mark it external)',
    );
  }
  checked = true;
}
