/**
 * Appends event lines to the log's day segments, as docs/events.md ("Appending safely")
 * asks and the Python `LogWriter` does: each segment opened `O_WRONLY | O_APPEND | O_CREAT`
 * (mode 0644), a torn last line sealed with a newline before the first append, and every
 * line handed to one `write(2)`, so lines from many processes never interleave. Writes are
 * synchronous: a span's start is on disk before its work begins, and nothing is lost when
 * the process exits or crashes afterwards.
 */
import { closeSync, fstatSync, mkdirSync, openSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";
import { segmentPath } from "./store.js";
export class FileSink {
    store;
    fds = new Map();
    constructor(store) {
        this.store = store;
    }
    write(line, day) {
        let fd = this.fds.get(day);
        if (fd === undefined)
            fd = this.open(day);
        writeWhole(fd, Buffer.from(`${line}\n`, "utf8"));
    }
    open(day) {
        mkdirSync(join(this.store, "log"), { recursive: true });
        const fd = openSync(segmentPath(this.store, day), "a", 0o644);
        try {
            sealTornTail(fd, segmentPath(this.store, day));
        }
        catch (err) {
            closeSync(fd);
            throw err;
        }
        this.fds.set(day, fd);
        return fd;
    }
    async flush() {
        // every line is written when it is given
    }
    async close() {
        for (const fd of this.fds.values()) {
            try {
                closeSync(fd);
            }
            catch {
                // already closed
            }
        }
        this.fds.clear();
    }
}
/** Write all of `data`; a short write (a disk filling up) is finished, or the line ended. */
function writeWhole(fd, data) {
    let written = writeSync(fd, data);
    if (written === data.length)
        return;
    try {
        while (written < data.length)
            written += writeSync(fd, data, written);
    }
    catch (err) {
        // Half a line is left: end it, so the damage stays one bad line and the next
        // append (ours or another process's) is not glued onto it.
        try {
            writeSync(fd, "\n");
        }
        catch {
            // the disk cannot take even that: readers report the torn line
        }
        throw err;
    }
}
/**
 * If a crashed writer left the segment without a final newline, end that line first.
 * Another process's write in flight looks the same for an instant (the file grows a page
 * at a time); our newline then lands after that write: one blank line, which readers skip,
 * never a broken one (the Python `LogWriter` does the same).
 */
function sealTornTail(fd, path) {
    const size = fstatSync(fd).size;
    if (size === 0)
        return;
    const reader = openSync(path, "r"); // the append descriptor is write-only
    try {
        const last = Buffer.alloc(1);
        readSync(reader, last, 0, 1, size - 1);
        if (last[0] !== 0x0a)
            writeSync(fd, "\n");
    }
    finally {
        closeSync(reader);
    }
}
