export const ENDPOINT_ENV = "LAPTIME_ENDPOINT";
export const TOKEN_ENV = "LAPTIME_TOKEN";
export const TIMEOUT_ENV = "LAPTIME_TIMEOUT_MS";
const live = new Set();
let exitHookInstalled = false;
function installExitHook() {
    if (exitHookInstalled)
        return;
    exitHookInstalled = true;
    // 'beforeExit' comes when nothing else keeps the loop alive: the program is done.
    process.on("beforeExit", () => {
        for (const sink of live)
            sink.lastTry();
    });
}
/** The `/events` URL for an endpoint given as the server's base URL or as the full URL. */
export function eventsUrl(endpoint) {
    const url = new URL(endpoint);
    if (!url.pathname.endsWith("/events"))
        url.pathname = `${url.pathname.replace(/\/+$/, "")}/events`;
    return url.toString();
}
export class HttpSink {
    warn;
    url;
    token;
    timeoutMs;
    flushIntervalMs;
    maxBatch;
    maxBuffered;
    buffer = [];
    inFlight = null;
    timer = null;
    exiting = false;
    closed = false;
    constructor(options, warn) {
        this.warn = warn;
        this.url = eventsUrl(options.endpoint);
        this.token = options.token || undefined;
        this.timeoutMs = options.timeoutMs ?? 2000;
        this.flushIntervalMs = options.flushIntervalMs ?? 200;
        this.maxBatch = options.maxBatch ?? 500;
        this.maxBuffered = options.maxBuffered ?? 10_000;
        live.add(this);
        installExitHook();
    }
    write(line, _day) {
        if (this.buffer.length >= this.maxBuffered) {
            this.warn("http:overflow", `${this.maxBuffered} events are waiting for ${this.url}; newer events are dropped until it answers`);
            return;
        }
        this.buffer.push(line);
        if (this.buffer.length >= this.maxBatch)
            this.send();
        else
            this.schedule();
    }
    schedule() {
        if (this.timer !== null || this.closed)
            return;
        this.timer = setTimeout(() => {
            this.timer = null;
            this.send();
        }, this.flushIntervalMs);
        this.timer.unref(); // a waiting batch must not keep the program alive; 'beforeExit' sends it
    }
    /** Start sending the next batch unless one is on its way; resolves true when it got through. */
    send() {
        if (this.inFlight !== null)
            return this.inFlight;
        if (this.buffer.length === 0)
            return Promise.resolve(true);
        const batch = this.buffer.splice(0, this.maxBatch);
        const request = this.post(batch).then((delivered) => {
            this.inFlight = null;
            if (!delivered && this.exiting)
                this.buffer = []; // the program is ending and the server is away
            if (!delivered && !this.exiting)
                this.buffer.unshift(...batch.slice(0, this.maxBuffered - this.buffer.length));
            if (this.buffer.length > 0 && !this.exiting)
                this.schedule();
            return delivered;
        });
        this.inFlight = request;
        return request;
    }
    /** POST one batch; true when the server took it, false to try again later. Never rejects. */
    async post(batch) {
        const headers = { "content-type": "application/json" };
        if (this.token !== undefined)
            headers.authorization = `Bearer ${this.token}`;
        try {
            const response = await fetch(this.url, {
                method: "POST",
                headers,
                body: `{"events":[${batch.join(",")}]}`,
                signal: AbortSignal.timeout(this.timeoutMs),
            });
            const text = await response.text().catch(() => "");
            if (response.ok)
                return true;
            const detail = text.length > 200 ? `${text.slice(0, 200)}...` : text;
            if (response.status >= 400 && response.status < 500) {
                this.warn(`http:${response.status}`, `${this.url} refused ${batch.length} events with HTTP ${response.status} ${detail}; they were dropped`);
                return true; // sending the same batch again would be refused again
            }
            this.warn("http:delivery", `${this.url} answered HTTP ${response.status} ${detail}; ${RETRY_NOTE}`);
            return false;
        }
        catch (err) {
            this.warn("http:delivery", `${this.url} cannot be reached (${describe(err, this.timeoutMs)}); ${RETRY_NOTE}`);
            return false;
        }
    }
    /** One last try for what is waiting, at the end of the program (see the module's note). */
    lastTry() {
        if (this.buffer.length === 0 || this.inFlight !== null)
            return;
        this.exiting = true;
        void this.send(); // a failure here was already told (RETRY_NOTE)
    }
    async flush() {
        if (this.timer !== null) {
            clearTimeout(this.timer);
            this.timer = null;
        }
        // Until the first batch that does not get through: a server that is away must not keep flush() going.
        while (this.buffer.length > 0 || this.inFlight !== null) {
            if (!(await this.send()))
                return;
        }
    }
    async close() {
        await this.flush();
        this.closed = true;
        if (this.timer !== null)
            clearTimeout(this.timer);
        this.timer = null;
        live.delete(this);
    }
}
// One warning tells every delivery failure (no connection, a timeout, a 5xx), whichever
// comes first, and what happens to the events, so a server that stays away is told once.
const RETRY_NOTE = "the events wait and are sent again, and are lost if it does not take them before the program ends";
function describe(err, timeoutMs) {
    if (err instanceof Error) {
        if (err.name === "TimeoutError" || err.name === "AbortError")
            return `no answer within ${timeoutMs} ms`;
        const cause = err.cause;
        if (cause?.code)
            return `${cause.code}: ${cause.message ?? err.message}`;
        return `${err.name}: ${err.message}`;
    }
    return String(err);
}
