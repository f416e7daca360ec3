/**
 * Where the store lives, found the way the Python SDK finds it (`laptime.store.find_store`):
 * `home` given, else `$LAPTIME_HOME` (when set and not empty; a leading `~` is the home
 * folder), else the nearest `.laptime` folder in the working directory or its parents,
 * else `.laptime` in the working directory (created on the first write).
 */
import { statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";

export const STORE_DIRNAME = ".laptime";
export const HOME_ENV = "LAPTIME_HOME";

/** The store cannot be used; the message says what to do. */
export class StoreError extends Error {
  override name = "StoreError";
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The store folder (the one that holds `log/`). Touches nothing on disk. */
export function findStore(home?: string, cwd: string = process.cwd(), env: NodeJS.ProcessEnv = process.env): string {
  const explicit = home ?? (env[HOME_ENV] || undefined);
  if (explicit !== undefined) {
    const path = resolve(explicit.replace(/^~(?=$|\/)/, homedir()));
    let isFile = false;
    try {
      isFile = !statSync(path).isDirectory();
    } catch {
      // missing: created on the first write
    }
    if (isFile) {
      throw new StoreError(`store path ${path} is a file, not a folder; point ${HOME_ENV} at a folder`);
    }
    return path;
  }
  const start = resolve(cwd);
  for (let dir = start; ; dir = dirname(dir)) {
    const candidate = join(dir, STORE_DIRNAME);
    if (isDirectory(candidate)) return candidate;
    if (dirname(dir) === dir) return join(start, STORE_DIRNAME);
  }
}

/** The segment file of a UTC day (`YYYY-MM-DD`, the first 10 characters of an event's `ts`). */
export function segmentPath(store: string, day: string): string {
  return join(store, "log", `${day}.jsonl`);
}
