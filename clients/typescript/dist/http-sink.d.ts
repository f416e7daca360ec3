/**
 * Sends events to `laptime serve` as `POST {endpoint}/events` with the JSON body
 * `{"events": [...]}` (a batch of v1 events, as they would be written to the log), with
 * `Authorization: Bearer <token>` when a token is set, using Node's global `fetch`.
 *
 * It never stalls the program: events are gathered in memory and sent in the background,
 * one request at a time, every `flushIntervalMs` or once `maxBatch` are waiting. Each
 * request is cut off after `timeoutMs`. A failed batch (no connection, a timeout, a 5xx)
 * is kept and sent again with the next one; a batch the server refuses (a 4xx) is
 * dropped. At most `maxBuffered` events wait; beyond that new ones are dropped. When the
 * event loop runs dry (the program is done), what is waiting is sent until a batch does not
 * get through, so a program that ends normally waits at most twice `timeoutMs` for a server
 * that does not answer (the request in flight, then one last try). `process.exit()` skips
 * that: `await flush()` before it (it too stops at the first batch that fails).
 */
import type { Sink, Warn } from "./sink.js";
export declare const ENDPOINT_ENV = "LAPTIME_ENDPOINT";
export declare const TOKEN_ENV = "LAPTIME_TOKEN";
export declare const TIMEOUT_ENV = "LAPTIME_TIMEOUT_MS";
export interface HttpSinkOptions {
    /** The server's base URL (`http://127.0.0.1:8765`) or the full `.../events` URL. */
    endpoint: string;
    /** Sent as `Authorization: Bearer <token>`; never logged. */
    token?: string | undefined;
    /** Give up on one request after this long (default 2000 ms). */
    timeoutMs?: number | undefined;
    /** Send what is waiting this often (default 200 ms). */
    flushIntervalMs?: number | undefined;
    /** Events per request at most (default 500). */
    maxBatch?: number | undefined;
    /** Events kept waiting at most, while the server is slow or away (default 10 000). */
    maxBuffered?: number | undefined;
}
/** The `/events` URL for an endpoint given as the server's base URL or as the full URL. */
export declare function eventsUrl(endpoint: string): string;
export declare class HttpSink implements Sink {
    private readonly warn;
    readonly url: string;
    private readonly token;
    private readonly timeoutMs;
    private readonly flushIntervalMs;
    private readonly maxBatch;
    private readonly maxBuffered;
    private buffer;
    private inFlight;
    private timer;
    private exiting;
    private closed;
    constructor(options: HttpSinkOptions, warn: Warn);
    write(line: string, _day: string): void;
    private schedule;
    /** Start sending the next batch unless one is on its way; resolves true when it got through. */
    private send;
    /** POST one batch; true when the server took it, false to try again later. Never rejects. */
    private post;
    /** One last try for what is waiting, at the end of the program (see the module's note). */
    lastTry(): void;
    flush(): Promise<void>;
    close(): Promise<void>;
}
