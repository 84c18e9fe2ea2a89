/**
 * Sharing with `tandem worker` hosts through Redis: the keys, what travels in
 * them, and the two scripts that write them. The picture:
 *
 *   host H (a local worker thread)             Redis, under tandem:QUEUE:share:C             caller C
 *   task ─► link thread ──PUSH script──► …:req ─────────BLPOP────► share thread ─► server thread for H
 *            ▲  (one per local worker                                   │            (owns H's locks)
 *            │   thread and caller)                                     │
 *            └───────BLPOP──────────── …:reply:H ◄──RPUSH, PEXPIRE──────┘
 *
 *   …:open     the share thread keeps it (PX TTL), holding a token of its own: a link writes nothing
 *              once it is gone, and becomes a new holder when another share thread of the caller took over
 *   …:alive:H  the link keeps it (PX TTL): when it expires, H is dead and what it held is freed
 *
 * A request in `…:req` is `[holder, message]`, v8-serialized, where `message`
 * is a Request or Cancel of ../wire.ts; a reply in `…:reply:H` is a Reply of
 * ../wire.ts. `C` is the caller process's share id ({@link HostState.caller}),
 * so the keys of one caller are one SCAN pattern, removed when its last redis
 * pool on the queue closes.
 */
import type { RemoteState } from '../host.js';

/** The marker kind of a shared object on its way to (or back from) a `tandem worker` host. */
export const HOST_KIND = 'tandem.host';

/** What a host rebuilds a shared object from: its remote state, and which caller process serves it. */
export interface HostState extends RemoteState {
  caller: string;
}

/** A holder whose key is not refreshed for this long is dead: the share thread frees what it held. */
export const HEARTBEAT_TTL_MS = 10_000;
/** How often a link refreshes its key, and the share thread looks at every holder's. */
export const HEARTBEAT_EVERY_MS = 1_000;
/** Request and reply lists outlive their last write by this long, so a caller or host that vanished leaves nothing for good. */
export const LIST_TTL_MS = 60_000;
/** Requests or replies moved per round trip at most. */
export const BATCH = 1_000;

export type HostRequest = [holder: string, message: unknown[]];

export interface ShareKeys {
  /** The list of requests from every holder. */
  requests: string;
  /** Set while the caller serves; see {@link PUSH_SCRIPT}. */
  open: string;
  /** The SCAN pattern of every key of this caller. */
  pattern: string;
  reply(holder: string): string;
  alive(holder: string): string;
}

export function shareKeys(queue: string, caller: string): ShareKeys {
  const prefix = `tandem:${queue}:share:${caller}`;
  return {
    requests: `${prefix}:req`,
    open: `${prefix}:open`,
    pattern: `${prefix.replace(/[*?[\]\\]/g, '\\$&')}:*`,
    reply: (holder) => `${prefix}:reply:${holder}`,
    alive: (holder) => `${prefix}:alive:${holder}`,
  };
}

/**
 * KEYS[1] open, KEYS[2] requests; ARGV[1] the list's TTL, ARGV[2] the share
 * thread's token the link knows, then the requests. Pushes only while that
 * share thread serves, so a host never leaves a request list behind a caller
 * that closed. Returns 1 (pushed), 0 (the caller serves no more) or 2 (a
 * later share thread of the same caller serves now: the link must become a
 * new holder, since the last one's locks were freed when its pool closed).
 */
export const PUSH_SCRIPT = `local token = redis.call('GET', KEYS[1])
if not token then return 0 end
if token ~= ARGV[2] then return 2 end
redis.call('RPUSH', KEYS[2], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return 1`;

/**
 * KEYS[1] open, KEYS[2] alive; ARGV[1] TTL, ARGV[2] the token, ARGV[3] '1'
 * for a holder's first beat. Later beats only refresh a key that still
 * exists: once it expired the caller has freed what the holder held, and
 * the link must not carry on as if it still held it. Returns 1 (kept), 0 (the
 * caller serves no more), 2 (another share thread serves) or 3 (presumed dead).
 */
export const BEAT_SCRIPT = `local token = redis.call('GET', KEYS[1])
if not token then return 0 end
if token ~= ARGV[2] then return 2 end
if ARGV[3] == '1' then redis.call('SET', KEYS[2], '1', 'PX', ARGV[1]) return 1 end
if redis.call('SET', KEYS[2], '1', 'PX', ARGV[1], 'XX') then return 1 end
return 3`;

export const KEPT = 1;
export const CLOSED = 0;
export const RESTARTED = 2;
export const PRESUMED_DEAD = 3;

/**
 * How reports name a holder: `host NAME:PID worker N`; its id adds a random
 * part, so a restarted host with the same pid is another holder.
 */
export function holderLabel(holder: string): string {
  const [host = '?', pid = '?', thread = '?'] = holder.split(':');
  return `host ${host.slice(0, 24)}:${pid} worker ${thread}`;
}
