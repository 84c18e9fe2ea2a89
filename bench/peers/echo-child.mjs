// Raw IPC floor (scenario 4): a forked child that sends every message straight back.
process.on('message', (m) => process.send(m));
