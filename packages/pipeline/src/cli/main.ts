#!/usr/bin/env node
/**
 * Entry point of the `sd-webgpu` command (`npm run generate -- --prompt "..."`, or packages/pipeline/dist/cli/main.js, the package's bin).
 * Ctrl-C once stops the generation after the current step (nothing is written); twice exits at once.
 */
import { EXIT, runCli } from './generate.js';

const controller = new AbortController();
let interrupts = 0;
const onSigint = () => {
  interrupts++;
  if (interrupts === 1) {
    process.stderr.write('\nsd-webgpu: stopping after the current step (Ctrl-C again to quit now)\n');
    controller.abort();
  } else {
    process.exit(EXIT.interrupted);
  }
};
process.on('SIGINT', onSigint);

try {
  process.exitCode = await runCli(process.argv.slice(2), process.env, {
    stdout: process.stdout,
    stderr: process.stderr,
    signal: controller.signal,
  });
} finally {
  process.off('SIGINT', onSigint);
}
