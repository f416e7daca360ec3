/**
 * Ids and timestamps, in the same scheme as the Python recorder (`laptime.clock`).
 *
 * A timestamp is `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, exactly 6 fraction digits); the index
 * does integer arithmetic on that text, so no other form is ever written. An id is 32
 * lowercase hex digits in the UUIDv7 layout: 12 digits of Unix milliseconds, the version
 * `7`, 3 random digits, then 8 digits of the variant bits with a per-process random node
 * and 8 digits of a counter. Ids made in one process sort in creation order, and two
 * processes (or worker threads, which load this module afresh) practically never collide.
 */
import { randomBytes } from "node:crypto";

/** A clock returns microseconds since the Unix epoch (UTC). */
export type Clock = () => number;

// Date.now() has milliseconds only; process.hrtime gives the microseconds between them.
// The two are tied together at load and again whenever they drift apart by more than
// 2 ms (the wall clock was set), and the result never runs backwards in one process,
// so a span's end is never before its start.
let anchorWallUs = Date.now() * 1000;
let anchorHr = process.hrtime.bigint();
let lastUs = 0;
const MAX_DRIFT_US = 2000;

/** The wall clock, in microseconds since the epoch, at microsecond resolution. */
export function systemClock(): number {
  const hr = process.hrtime.bigint();
  let us = anchorWallUs + Number((hr - anchorHr) / 1000n);
  const wallUs = Date.now() * 1000;
  if (Math.abs(us - wallUs) > MAX_DRIFT_US) {
    anchorWallUs = wallUs;
    anchorHr = hr;
    us = wallUs;
  }
  if (us < lastUs) us = lastUs;
  lastUs = us;
  return us;
}

// "000".."999": the millisecond and microsecond digits, without a padStart per event
const DIGITS3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, "0"));

// "YYYY-MM-DDTHH:MM:SS" of the last second formatted: Date#toISOString costs more than
// the rest of an event's line, and events come many to a second.
let cachedSecond = Number.NaN;
let cachedSecondText = "";

/** The canonical event timestamp for microseconds since the epoch. */
export function formatTimestamp(us: number): string {
  const whole = Math.floor(us);
  const second = Math.floor(whole / 1_000_000);
  if (second !== cachedSecond) {
    cachedSecondText = new Date(second * 1000).toISOString().slice(0, 19);
    cachedSecond = second;
  }
  const fraction = whole - second * 1_000_000;
  const ms = Math.floor(fraction / 1000);
  return `${cachedSecondText}.${DIGITS3[ms]}${DIGITS3[fraction - ms * 1000]}Z`;
}

const seed = randomBytes(8);
// "7", 12 random bits, then the variant bits 10 and 30 random node bits
const NODE =
  `7${(seed.readUInt16BE(0) & 0xfff).toString(16).padStart(3, "0")}` +
  `${((0x80000000 | (seed.readUInt32BE(2) & 0x3fffffff)) >>> 0).toString(16).padStart(8, "0")}`;
let counter = seed.readUInt16BE(6);

let cachedMs = Number.NaN;
let cachedPrefix = "";

/** A new id for an event at `us` (microseconds since the epoch). */
export function newId(us: number): string {
  const ms = Math.floor(us / 1000) % 2 ** 48;
  if (ms !== cachedMs) {
    cachedPrefix = `${ms.toString(16).padStart(12, "0")}${NODE}`;
    cachedMs = ms;
  }
  counter = (counter + 1) % 2 ** 32;
  return cachedPrefix + (counter + 0x100000000).toString(16).slice(1); // 8 digits, zero-padded
}
