import { describe, expect, it } from 'vitest';
import { DawnLogFilter } from '../../packages/pipeline/src/cli/quiet';

describe('DawnLogFilter', () => {
  it("drops Dawn's warning lines however the pipe splits them, and passes everything else on at once", () => {
    const dawn = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16.\n';
    const text = `seed: 1 (random)\n${dawn}loading x...\n${dawn}\r[==        ] 1/5 steps\r[====      ] 2/5 steps\nWarn: ours\nWarning`;
    for (const size of [1, 2, 3, 7, 64, text.length]) {
      let out = '';
      const f = new DawnLogFilter((t) => (out += t));
      const seen: string[] = [];
      for (let i = 0; i < text.length; i += size) {
        f.push(text.slice(i, i + size));
        seen.push(out);
      }
      f.end();
      expect(out, `chunks of ${size}`).toBe('seed: 1 (random)\nloading x...\n\r[==        ] 1/5 steps\r[====      ] 2/5 steps\nWarn: ours\nWarning');
      // the progress bar's first update is out before its line ends
      if (size === 1) expect(seen.some((s) => s.endsWith('1/5 steps'))).toBe(true);
    }
  });
});
