/** `sd-webgpu-server` arguments (no GPU, no Redis): defaults, per-command options, usage errors. */
import { describe, expect, it } from 'vitest';
import { UsageError, connectionFromUrl, parseServerArgs } from '@sd-webgpu/server';

const parse = (argv: string[], env: Record<string, string> = {}) => parseServerArgs(argv, env);
const usage = (argv: string[]) => {
  try {
    parse(argv);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error(`accepted ${argv.join(' ')}`);
};

describe('parseServerArgs', () => {
  it('parses serve with its defaults, the API key from the environment', () => {
    expect(parse(['serve', '--model', 'm'], { SD_WEBGPU_API_KEY: 'k' })).toEqual({
      kind: 'serve', model: 'm', host: '127.0.0.1', port: 7860, redis: undefined, queue: undefined, apiKey: 'k',
      corsOrigin: undefined, maxBodyBytes: 32 * 1024 * 1024, resultTtlSeconds: 3600, dtype: 'f32',
    });
    expect(parse(['serve', '--model', 'm', '--port', '0', '--redis', 'redis://h:1', '--api-key', 'a', '--cors-origin', '*', '--max-body-mb', '2', '--fp16'])).toMatchObject({
      port: 0, redis: 'redis://h:1', apiKey: 'a', corsOrigin: '*', maxBodyBytes: 2 * 1024 * 1024, dtype: 'f16',
    });
  });

  it('parses worker, and redis:// URLs into connection options', () => {
    expect(connectionFromUrl('rediss://u:p%40ss@queue.example:6380/2')).toEqual({
      host: 'queue.example', port: 6380, db: 2, username: 'u', password: 'p@ss', tls: {}, maxRetriesPerRequest: null,
    });
    expect(parse(['worker', '--redis', 'redis://h', '--model', 'm', '--lock-ms', '5000', '--no-warmup'])).toEqual({
      kind: 'worker', model: 'm', redis: 'redis://h', queue: undefined, lockMs: 5000, warmup: false, dtype: 'f32',
    });
  });

  it('refuses what cannot work with one clear line', () => {
    expect(parse([])).toEqual({ kind: 'help' });
    expect(usage(['generate'])).toContain('unknown command');
    expect(usage(['serve'])).toBe('--model is required');
    expect(usage(['worker', '--model', 'm'])).toBe('worker needs --redis URL');
    expect(usage(['serve', '--model', 'm', '--port', '70000'])).toContain('--port must be an integer in 0..65535');
    expect(usage(['serve', '--model', 'm', '--lock-ms', '100'])).toBe('--lock-ms does not apply to serve');
    expect(usage(['worker', '--model', 'm', '--redis', 'redis://r', '--api-key', 'k'])).toBe('--api-key does not apply to worker');
    expect(usage(['serve', '--model', 'm', '--bogus'])).toContain('--bogus');
    expect(usage(['worker', '--model', 'm', '--redis', 'localhost:6379'])).toBe('--redis must be a redis:// or rediss:// URL (got "localhost:6379")');
  });
});
