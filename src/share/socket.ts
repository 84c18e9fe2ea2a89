/**
 * The transport between a child process and its server thread: a local
 * socket (a Unix domain socket in a private directory; a named pipe on
 * Windows) that the server thread listens on itself.
 *
 * Why a socket of its own, not the IPC channel or another stdio pipe: the
 * ends of those belong to the caller's main thread, so every request would
 * wait for the caller's event loop (often busy: it is the app) and pay a
 * second hop to the server thread. The server thread owns its socket, so a
 * request goes child → server thread → child and nothing else runs on the
 * way. The child side reads it from a thread too (see ./client.ts), so a
 * Sync form gets its reply while the child's own event loop is blocked.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Deframer, frame, type Cancel, type Reply, type Request, type ShareTransport } from './wire.js';

let made = 0;

/** Where the server of one child listens. Nothing is created until the server starts. */
export function socketPath(): string {
  const name = `tandem-${process.pid}-${randomBytes(6).toString('hex')}-${++made}`;
  return process.platform === 'win32' ? `\\\\.\\pipe\\${name}` : join(tmpdir(), name, 's');
}

/** The directory to remove with the socket (none for a Windows pipe). */
export function socketDir(path: string): string | null {
  return process.platform === 'win32' ? null : join(path, '..');
}

/** Listens on `path`; each client that connects is handed to `serve`. */
export function listen(path: string, serve: (transport: ShareTransport) => void): Server {
  const dir = socketDir(path);
  // Readable and connectable by this user only.
  if (dir) mkdirSync(dir, { mode: 0o700 });
  const server = createServer((socket) => serve(socketTransport(socket)));
  server.listen(path);
  return server;
}

export function removeSocket(path: string): void {
  const dir = socketDir(path);
  if (dir) rmSync(dir, { recursive: true, force: true });
}

function socketTransport(socket: Socket): ShareTransport {
  const deframer = new Deframer();
  socket.setNoDelay?.(true);
  return {
    leases: true,
    onMessage(handler) {
      socket.on('data', (chunk: Buffer) => {
        for (const message of deframer.feed(chunk)) handler(message as Request | Cancel);
      });
    },
    onGone(handler) {
      socket.on('error', () => {});
      socket.once('close', handler);
    },
    send(reply: Reply) {
      if (!socket.destroyed) socket.write(frame(reply));
    },
  };
}
