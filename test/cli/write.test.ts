import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  OutputWriteError, type WriteFs, outputPaths, tempPathFor, writeFilesAtomic,
} from '../../packages/pipeline/src/cli/write';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'sd-write-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const bytes = (n: number, v: number) => new Uint8Array(n).fill(v);

/** node:fs with one call made to fail. */
function failing(which: keyof WriteFs, onCall: number): WriteFs {
  let calls = 0;
  const real: WriteFs = {
    openSync: (p, f, m) => fs.openSync(p, f, m),
    writeSync: (fd, d, o, l) => fs.writeSync(fd, d, o, l),
    fsyncSync: (fd) => fs.fsyncSync(fd),
    closeSync: (fd) => fs.closeSync(fd),
    renameSync: (a, b) => fs.renameSync(a, b),
    unlinkSync: (p) => fs.unlinkSync(p),
  };
  return {
    ...real,
    [which]: (...a: unknown[]) => {
      if (++calls === onCall) throw new Error(`ENOSPC: no space left on device (simulated ${which})`);
      return (real[which] as (...x: unknown[]) => unknown)(...a);
    },
  } as WriteFs;
}

describe('outputPaths', () => {
  it('numbers outputs only when there are several', () => {
    expect(outputPaths('out.png', 1)).toEqual(['out.png']);
    expect(outputPaths('dir/out.png', 3)).toEqual(['dir/out-1.png', 'dir/out-2.png', 'dir/out-3.png']);
    expect(outputPaths('a.b.PNG', 2)).toEqual(['a.b-1.PNG', 'a.b-2.PNG']);
  });

  it('puts temporaries next to the target, hidden and unique', () => {
    const a = tempPathFor(join(dir, 'out.png'));
    expect(a.startsWith(join(dir, '.out.png.'))).toBe(true);
    expect(a.endsWith('.tmp')).toBe(true);
    expect(tempPathFor(join(dir, 'out.png'))).not.toBe(a);
  });
});

describe('writeFilesAtomic', () => {
  it('writes every file and leaves no temporaries', () => {
    const files = [{ path: join(dir, 'a.png'), data: bytes(100_000, 1) }, { path: join(dir, 'b.png'), data: bytes(3, 2) }];
    writeFilesAtomic(files);
    expect(fs.readFileSync(files[0]!.path)).toEqual(Buffer.from(files[0]!.data));
    expect(fs.readFileSync(files[1]!.path)).toEqual(Buffer.from(files[1]!.data));
    expect(fs.readdirSync(dir).sort()).toEqual(['a.png', 'b.png']);
  });

  it('replaces an existing file', () => {
    const p = join(dir, 'out.png');
    fs.writeFileSync(p, 'old');
    writeFilesAtomic([{ path: p, data: bytes(4, 7) }]);
    expect([...fs.readFileSync(p)]).toEqual([7, 7, 7, 7]);
  });

  it('leaves nothing (and old files intact) when a write fails midway', () => {
    const old = join(dir, 'out-1.png');
    fs.writeFileSync(old, 'old');
    const files = [{ path: old, data: bytes(10, 1) }, { path: join(dir, 'out-2.png'), data: bytes(10, 2) }];
    // the second file's write fails: the first one's temporary is complete but must not be committed
    expect(() => writeFilesAtomic(files, failing('writeSync', 2))).toThrow(OutputWriteError);
    expect(fs.readdirSync(dir)).toEqual(['out-1.png']);
    expect(fs.readFileSync(old, 'utf8')).toBe('old');
  });

  it('names the file and the reason', () => {
    const p = join(dir, 'x.png');
    expect(() => writeFilesAtomic([{ path: p, data: bytes(1, 1) }], failing('fsyncSync', 1))).toThrow(
      `cannot write ${JSON.stringify(p)}: ENOSPC: no space left on device (simulated fsyncSync)`,
    );
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('cleans the remaining temporaries when a rename fails', () => {
    const files = [1, 2, 3].map((i) => ({ path: join(dir, `o-${i}.png`), data: bytes(5, i) }));
    expect(() => writeFilesAtomic(files, failing('renameSync', 2))).toThrow(/o-2\.png/);
    // o-1 was committed before the failure; no temporaries remain
    expect(fs.readdirSync(dir)).toEqual(['o-1.png']);
  });

  it('fails cleanly when the folder does not exist', () => {
    const p = join(dir, 'missing', 'out.png');
    expect(() => writeFilesAtomic([{ path: p, data: bytes(1, 1) }])).toThrow(/cannot write .*missing\/out\.png.*ENOENT/);
  });
});
