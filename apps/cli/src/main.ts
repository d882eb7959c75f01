#!/usr/bin/env node
import { run } from './program.js';

// Output goes through process.stdout: a closed pipe (`gpubatch ls | head`) ends the process quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const code = await run(process.argv, {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
});
// Exit once both streams have flushed: idle keep-alive sockets must not hold the process open.
process.stderr.write('', () => process.stdout.write('', () => process.exit(code)));
