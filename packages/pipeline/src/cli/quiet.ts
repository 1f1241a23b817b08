/**
 * Keeps Dawn's own log lines (`Warning: maxDynamic…BuffersPerPipelineLayout artificially reduced…`, written by native
 * code straight to file descriptor 2 when a device is created) off the CLI's stderr unless `--verbose` is given.
 * Native writes cannot be intercepted in-process, so the command runs in a child process whose stderr is piped
 * through `DawnLogFilter`; everything else passes through as it arrives (the progress bar's `\r` updates included).
 */
import { spawn } from 'node:child_process';

/** Set in the child: its stderr is a pipe to the filtering parent (and says whether the parent's was a terminal). */
export const FILTERED_ENV = 'SD_WEBGPU_STDERR_FILTERED';
const DAWN_LINE = /^Warning: /;

/** Streaming filter: complete lines that Dawn wrote are dropped; other text is passed on at once. */
export class DawnLogFilter {
  #line = '';
  constructor(readonly out: (text: string) => void) {}

  push(text: string): void {
    for (const ch of text.split(/(?<=\n)/)) {
      this.#line += ch;
      if (this.#line.endsWith('\n')) {
        if (!DAWN_LINE.test(this.#line)) this.out(this.#line);
        this.#line = '';
      } else if (!'Warning: '.startsWith(this.#line) && !DAWN_LINE.test(this.#line)) {
        this.out(this.#line); // cannot be a Dawn line: pass it on now (progress bars end without a newline)
        this.#line = '';
      }
    }
  }

  end(): void {
    if (this.#line && !DAWN_LINE.test(this.#line)) this.out(this.#line);
    this.#line = '';
  }
}

/** Runs this same entry script with `argv` in a child whose stderr is filtered; resolves to its exit code. */
export function runFiltered(argv: readonly string[]): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...argv], {
    stdio: ['inherit', 'inherit', 'pipe'],
    env: { ...process.env, [FILTERED_ENV]: process.stderr.isTTY ? 'tty' : 'pipe' },
  });
  const filter = new DawnLogFilter((t) => process.stderr.write(t));
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (t: string) => filter.push(t));
  // Ctrl-C reaches the child from the terminal (same process group): the parent only waits for it.
  const ignore = () => {};
  process.on('SIGINT', ignore);
  const forward = () => child.kill('SIGTERM');
  process.on('SIGTERM', forward);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      filter.end();
      process.off('SIGINT', ignore);
      process.off('SIGTERM', forward);
      resolve(code ?? 128 + (signal === 'SIGINT' ? 2 : 15));
    });
  });
}
