/** A clock returns microseconds since the Unix epoch (UTC). */
export type Clock = () => number;
/** The wall clock, in microseconds since the epoch, at microsecond resolution. */
export declare function systemClock(): number;
/** The canonical event timestamp for microseconds since the epoch. */
export declare function formatTimestamp(us: number): string;
/** A new id for an event at `us` (microseconds since the epoch). */
export declare function newId(us: number): string;
