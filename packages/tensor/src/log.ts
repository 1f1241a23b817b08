/**
 * Debug logging for paths that kick in silently otherwise (oversize splits, dtype fallbacks). Off unless
 * `setDebug(true)` is called or the environment variable `SD_WEBGPU_DEBUG` is set (Node).
 */
let enabled =
  typeof process !== 'undefined' && !!(process as { env?: Record<string, string | undefined> }).env?.SD_WEBGPU_DEBUG;

export function setDebug(on: boolean): void {
  enabled = on;
}

export function debugEnabled(): boolean {
  return enabled;
}

export function debugLog(scope: string, message: string | (() => string)): void {
  if (enabled) console.debug(`[sd-webgpu:${scope}] ${typeof message === 'function' ? message() : message}`);
}
