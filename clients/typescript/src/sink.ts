/** Where encoded events go: the log (`FileSink`), `laptime serve` (`HttpSink`), or a test's list. */
export interface Sink {
  /**
   * Take one event: `line` is its complete JSON text (no newline), `day` the UTC day of its
   * `ts`. May throw; the recorder turns any error into one warning.
   */
  write(line: string, day: string): void;
  /** Deliver whatever is waiting. Never rejects. */
  flush(): Promise<void>;
  /** Flush and let go of files and timers. Safe to call twice. Never rejects. */
  close(): Promise<void>;
}

/** How a sink reports a failure: `key` says which kind, so each kind is told once. */
export type Warn = (key: string, message: string) => void;
