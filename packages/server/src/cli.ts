/**
 * `sd-webgpu-server serve` and `sd-webgpu-server worker`: argument parsing and start-up. Model code and BullMQ are
 * imported only when a command needs them.
 */
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { SdError } from '@sd-webgpu/tensor';
import { connectionFromUrl } from './redis.js';

export class UsageError extends SdError {
  constructor(detail: string) {
    super('usage', detail);
  }
}

export const USAGE = `usage:
  sd-webgpu-server serve --model PATH [--host 127.0.0.1] [--port 7860] [--redis URL] [--queue NAME]
                         [--api-key KEY] [--cors-origin ORIGIN] [--max-body-mb 32] [--result-ttl 3600] [--fp16]
  sd-webgpu-server worker --redis URL --model PATH [--queue NAME] [--lock-ms 30000] [--no-warmup] [--fp16]

serve   HTTP server with the AUTOMATIC1111 API (/sdapi/v1/txt2img, img2img, progress, interrupt, sd-models,
        samplers). Without --redis it loads the model and generates in this process, one request at a time;
        with --redis it queues jobs on BullMQ for workers (--model is then only the name it lists).
worker  Loads the model on this machine's GPU and processes queued jobs, one at a time.
The API key can also come from SD_WEBGPU_API_KEY (keeps it out of the process list).
`;

export interface ServeArgs {
  kind: 'serve';
  model: string;
  host: string;
  port: number;
  redis?: string;
  queue?: string;
  apiKey?: string;
  corsOrigin?: string;
  maxBodyBytes: number;
  resultTtlSeconds: number;
  dtype: 'f32' | 'f16';
}

export interface WorkerArgs {
  kind: 'worker';
  model: string;
  redis: string;
  queue?: string;
  lockMs: number;
  warmup: boolean;
  dtype: 'f32' | 'f16';
}

function intOption(name: string, v: string | undefined, dflt: number, lo: number, hi: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < lo || n > hi) throw new UsageError(`--${name} must be an integer in ${lo}..${hi} (got ${JSON.stringify(v)})`);
  return n;
}

export function parseServerArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ServeArgs | WorkerArgs | { kind: 'help' } {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') return { kind: 'help' };
  if (cmd !== 'serve' && cmd !== 'worker') throw new UsageError(`unknown command ${JSON.stringify(cmd)} (expected serve or worker)`);
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...rest],
      strict: true,
      options: {
        model: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' }, redis: { type: 'string' },
        queue: { type: 'string' }, 'api-key': { type: 'string' }, 'cors-origin': { type: 'string' },
        'max-body-mb': { type: 'string' }, 'result-ttl': { type: 'string' }, 'lock-ms': { type: 'string' },
        'no-warmup': { type: 'boolean' }, fp16: { type: 'boolean' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const str = (k: string) => values[k] as string | undefined;
  const model = str('model');
  if (!model) throw new UsageError('--model is required');
  const dtype = values.fp16 ? 'f16' : 'f32';
  const redisUrl = str('redis');
  if (redisUrl !== undefined) {
    try {
      connectionFromUrl(redisUrl);
    } catch (e) {
      throw new UsageError(`--redis ${(e as Error).message.replace(/^.*parameter 'url' /, '')}`);
    }
  }
  const only = cmd === 'serve' ? ['lock-ms', 'no-warmup'] : ['host', 'port', 'api-key', 'cors-origin', 'max-body-mb', 'result-ttl'];
  for (const k of only) if (values[k] !== undefined) throw new UsageError(`--${k} does not apply to ${cmd}`);
  if (cmd === 'worker') {
    const redis = str('redis');
    if (!redis) throw new UsageError('worker needs --redis URL');
    return { kind: 'worker', model, redis, queue: str('queue'), lockMs: intOption('lock-ms', str('lock-ms'), 30_000, 1000, 3_600_000), warmup: !values['no-warmup'], dtype };
  }
  return {
    kind: 'serve', model, host: str('host') ?? '127.0.0.1', port: intOption('port', str('port'), 7860, 0, 65535),
    redis: str('redis'), queue: str('queue'), apiKey: str('api-key') ?? env.SD_WEBGPU_API_KEY, corsOrigin: str('cors-origin'),
    maxBodyBytes: intOption('max-body-mb', str('max-body-mb'), 32, 1, 1024) * 1024 * 1024,
    resultTtlSeconds: intOption('result-ttl', str('result-ttl'), 3600, 1, 30 * 86400), dtype,
  };
}

/** The model as /sdapi/v1/sd-models lists it. */
export function modelEntry(path: string): { title: string; filename: string } {
  return { title: basename(resolve(path)).replace(/\.safetensors$/, ''), filename: resolve(path) };
}
