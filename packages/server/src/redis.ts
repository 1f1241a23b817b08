/** Redis connection settings and the names shared by the server and its workers. */
import { ParameterError } from '@sd-webgpu/tensor';

export interface RedisSettings {
  /** `redis://[user:password@]host[:port][/db]` (or `rediss://` for TLS). */
  url: string;
  /** BullMQ queue name (default 'sd-webgpu'); servers and workers of one deployment use the same. */
  queue?: string;
  /** Redis key prefix (default BullMQ's 'bull'). */
  prefix?: string;
}

export const DEFAULT_QUEUE = 'sd-webgpu';
/** The custom queue event that asks workers to stop their running jobs. */
export const INTERRUPT_EVENT = 'sd-webgpu:interrupt';

/** ioredis connection options from a redis:// URL (BullMQ workers need maxRetriesPerRequest: null). */
export function connectionFromUrl(url: string): Record<string, unknown> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ParameterError('connectionFromUrl', 'url', `is not a URL (got ${JSON.stringify(url)})`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new ParameterError('connectionFromUrl', 'url', `must be a redis:// or rediss:// URL (got ${JSON.stringify(url)})`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new ParameterError('connectionFromUrl', 'url', `has an invalid database number (got ${JSON.stringify(url)})`);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    db,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

export function queueOptions(s: RedisSettings): { name: string; connection: Record<string, unknown>; prefix?: string } {
  return { name: s.queue ?? DEFAULT_QUEUE, connection: connectionFromUrl(s.url), ...(s.prefix ? { prefix: s.prefix } : {}) };
}
