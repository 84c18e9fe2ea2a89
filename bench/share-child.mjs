// The raw floor of bench/share.mjs: a forked child that answers each message
// (round trips), or sends a stream of values as fast as process.send takes them.
process.on('message', (message) => {
  if (message.stream === undefined) {
    process.send(message);
    return;
  }
  for (let i = 0; i < message.stream; i++) process.send(i);
});
