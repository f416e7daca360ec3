export declare const STORE_DIRNAME = ".laptime";
export declare const HOME_ENV = "LAPTIME_HOME";
/** The store cannot be used; the message says what to do. */
export declare class StoreError extends Error {
    name: string;
}
/** The store folder (the one that holds `log/`). Touches nothing on disk. */
export declare function findStore(home?: string, cwd?: string, env?: NodeJS.ProcessEnv): string;
/** The segment file of a UTC day (`YYYY-MM-DD`, the first 10 characters of an event's `ts`). */
export declare function segmentPath(store: string, day: string): string;
