/**
 * Entry point of the `sd-webgpu` command (`npm run generate -- --prompt "..."`, or packages/pipeline/dist/cli.js).
 * Ctrl-C once stops the generation after the current step (nothing is written); twice exits at once.
 */
import { EXIT, runCli } from './generate.js';
import { FILTERED_ENV, runFiltered } from './quiet.js';

const argv = process.argv.slice(2);

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
if (argv[0] === 'generate' && !argv.includes('--verbose') && !process.env[FILTERED_ENV]) {
  process.exitCode = await runFiltered(argv); // Dawn's log lines are dropped from the child's stderr
} else {
  process.on('SIGINT', onSigint);
  // In the filtered child, stderr is a pipe: the progress bar draws as on the parent's terminal when there was one.
  const tty = process.env[FILTERED_ENV] === 'tty' || process.stderr.isTTY === true;
  try {
    process.exitCode = await runCli(argv, process.env, {
      stdout: process.stdout,
      stderr: { write: (t: string) => process.stderr.write(t), isTTY: tty },
      signal: controller.signal,
    });
  } finally {
    process.off('SIGINT', onSigint);
  }
}
