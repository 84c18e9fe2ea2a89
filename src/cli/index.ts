#!/usr/bin/env node
// The `tandem` command: compare, run and worker. Being written (issue 4).
process.stderr.write('tandem: the command line is not built yet\n');
process.exit(1);
