/**
 * Every value a caller hands the recorder is checked before it reaches a log line, so the
 * client never writes a line the log then rejects (the Python recorder's `_Check`, in
 * short). A bad value never throws: the event is still written with a valid value in its
 * place, the raw value is kept in the event's `attrs["invalid_<field>"]`, and one warning
 * per call and field says so.
 */
import type { Warn } from "./sink.js";
import type { Attrs } from "./vocabulary.js";
export declare class Check {
    private readonly call;
    private readonly warn;
    invalid: Attrs | undefined;
    constructor(call: string, warn: Warn);
    bad(field: string, value: unknown, why: string, used: string): void;
    text(field: string, value: unknown): string;
    optionalText(field: string, value: unknown): string | null;
    choice<T extends string>(field: string, value: unknown, allowed: readonly T[], fallback: T): T;
    /** A token, line or queue count: a non-negative safe integer. A fraction is rounded. */
    count(field: string, value: unknown): number;
    optionalInt(field: string, value: unknown): number | null;
    flag(field: string, value: unknown): boolean;
    optionalNumber(field: string, value: unknown): number | null;
    number(field: string, value: unknown): number;
    /** The attrs to write: the caller's (made JSON-safe) plus the raw values replaced above. */
    attrs(attrs: Attrs | undefined): Attrs | undefined;
}
/**
 * `attrs` as JSON can hold them: a bigint becomes a number (or its digits, when too large),
 * NaN and Infinity their names (JSON.stringify would write null, changing the value). If
 * they still cannot be encoded (a circular structure, a throwing toJSON), they are replaced
 * by `{invalid_attrs: "<why>"}` with one warning: the event is never lost.
 */
export declare function cleanAttrs(attrs: Attrs, call: string, warn: Warn): Attrs | undefined;
