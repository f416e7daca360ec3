import type { Sink } from "./sink.js";
export declare class FileSink implements Sink {
    readonly store: string;
    private readonly fds;
    constructor(store: string);
    write(line: string, day: string): void;
    private open;
    flush(): Promise<void>;
    close(): Promise<void>;
}
