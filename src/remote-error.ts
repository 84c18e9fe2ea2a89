import { CancelledError, SerializationError, TaskError, TaskNotFoundError, UnguardedPoolError } from './errors.js';
import { type RemoteError, decodeCause } from './protocol.js';

/**
 * Turns an error reported by a worker into what the caller receives: the
 * worker's own tandem errors (task not found, a result that could not be
 * sent) keep their class; anything the task threw becomes a TaskError.
 */
export function remoteToError(remote: RemoteError): Error {
  const props = remote.props ?? {};
  const cause = remote.cause ? decodeCause(remote.cause) : undefined;
  switch (props.code) {
    case 'ERR_TANDEM_TASK_NOT_FOUND':
      return withRemoteStack(
        Object.assign(new TaskNotFoundError(String(props.module), String(props.exportName), ''), { message: remote.message }),
        remote,
      );
    case 'ERR_TANDEM_UNGUARDED_POOL':
      return withRemoteStack(Object.assign(new UnguardedPoolError(String(props.module)), { message: remote.message }), remote);
    case 'ERR_TANDEM_SERIALIZATION':
      return withRemoteStack(Object.assign(new SerializationError(-1, String(props.path), ''), { message: remote.message }), remote);
    case 'ERR_TANDEM_CANCELLED':
      return new CancelledError(remote.message);
  }
  const error = new TaskError(remote, cause === undefined ? undefined : { cause });
  if (remote.thrown !== undefined) (error as { thrown?: unknown }).thrown = remote.thrown;
  if (remote.props) {
    Object.assign(error.properties, remote.props);
    for (const [key, value] of Object.entries(remote.props)) {
      if (!(key in error)) (error as unknown as Record<string, unknown>)[key] = value;
    }
  }
  return error;
}

function withRemoteStack<E extends Error>(error: E, remote: RemoteError): E {
  if (remote.stack) error.stack = remote.stack;
  return error;
}
