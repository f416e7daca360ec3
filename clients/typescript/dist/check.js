const RAW_CHARS = 200;
function describe(value) {
    let text;
    try {
        text = typeof value === "string" ? JSON.stringify(value) : String(value);
    }
    catch {
        text = Object.prototype.toString.call(value);
    }
    return text.length <= RAW_CHARS ? text : `${text.slice(0, RAW_CHARS)}...`;
}
/** `value` as it can be kept in attrs: itself when JSON holds it as it is, else its text. */
function raw(value) {
    if (value === null || typeof value === "boolean" || typeof value === "string")
        return value;
    if (typeof value === "number" && Number.isFinite(value))
        return value;
    return describe(value);
}
export class Check {
    call;
    warn;
    invalid;
    constructor(call, warn) {
        this.call = call;
        this.warn = warn;
    }
    bad(field, value, why, used) {
        this.invalid ??= {};
        this.invalid[`invalid_${field}`] = raw(value);
        this.warn(`invalid:${this.call}:${field}`, `got an invalid ${field} in ${this.call} (${why}; ${used}; the raw value is in attrs.invalid_${field}); the event was still recorded`);
    }
    text(field, value) {
        if (typeof value === "string")
            return value;
        const fixed = value === undefined || value === null ? "" : describe(value);
        this.bad(field, value, `${describe(value)} is not a string`, `recorded ${JSON.stringify(fixed)}`);
        return fixed;
    }
    optionalText(field, value) {
        return value === undefined || value === null ? null : this.text(field, value);
    }
    choice(field, value, allowed, fallback) {
        if (typeof value === "string" && allowed.includes(value))
            return value;
        this.bad(field, value, `${describe(value)} is not one of ${allowed.join(", ")}`, `recorded "${fallback}"`);
        return fallback;
    }
    /** A token, line or queue count: a non-negative safe integer. A fraction is rounded. */
    count(field, value) {
        if (value === undefined)
            return 0;
        if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0)
            return value;
        if (typeof value === "number" && Number.isFinite(value) && value >= 0 && value <= Number.MAX_SAFE_INTEGER) {
            const rounded = Math.round(value);
            this.bad(field, value, `${value} is not an integer`, `recorded ${rounded}`);
            return rounded;
        }
        if (typeof value === "bigint" && value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER))
            return Number(value);
        this.bad(field, value, `${describe(value)} is not a count (an integer from 0)`, "recorded 0");
        return 0;
    }
    optionalInt(field, value) {
        if (value === undefined || value === null)
            return null;
        if (typeof value === "number" && Number.isSafeInteger(value))
            return value;
        this.bad(field, value, `${describe(value)} is not an integer`, "recorded none");
        return null;
    }
    flag(field, value) {
        if (value === undefined)
            return false;
        if (typeof value === "boolean")
            return value;
        this.bad(field, value, `${describe(value)} is not a boolean`, "recorded false");
        return false;
    }
    optionalNumber(field, value) {
        if (value === undefined || value === null)
            return null;
        if (typeof value === "number" && Number.isFinite(value))
            return value;
        this.bad(field, value, `${describe(value)} is not a finite number`, "recorded none");
        return null;
    }
    number(field, value) {
        if (typeof value === "number" && Number.isFinite(value))
            return value;
        this.bad(field, value, `${describe(value)} is not a finite number`, "recorded 0");
        return 0;
    }
    /** The attrs to write: the caller's (made JSON-safe) plus the raw values replaced above. */
    attrs(attrs) {
        const cleaned = attrs === undefined ? undefined : cleanAttrs(attrs, this.call, this.warn);
        if (this.invalid === undefined)
            return cleaned;
        return { ...cleaned, ...this.invalid };
    }
}
/**
 * `attrs` as JSON can hold them: a bigint becomes a number (or its digits, when too large),
 * NaN and Infinity their names (JSON.stringify would write null, changing the value). If
 * they still cannot be encoded (a circular structure, a throwing toJSON), they are replaced
 * by `{invalid_attrs: "<why>"}` with one warning: the event is never lost.
 */
export function cleanAttrs(attrs, call, warn) {
    if (typeof attrs !== "object" || attrs === null || Array.isArray(attrs)) {
        warn(`invalid:${call}:attrs`, `got attrs that are not an object in ${call} (${describe(attrs)}); kept as text`);
        return { invalid_attrs: describe(attrs) };
    }
    let text;
    try {
        text = JSON.stringify(attrs, jsonSafe);
    }
    catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        warn(`invalid:${call}:attrs`, `got attrs in ${call} that cannot be written as JSON (${why}); dropped them`);
        return { invalid_attrs: describe(why) };
    }
    return text === "{}" ? undefined : JSON.parse(text);
}
function jsonSafe(_key, value) {
    if (typeof value === "bigint") {
        return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
            ? Number(value)
            : value.toString();
    }
    if (typeof value === "number" && !Number.isFinite(value))
        return String(value);
    return value;
}
