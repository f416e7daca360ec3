// The TypeScript recorder's cost per phase (enter + exit, both lines appended to the log)
// against the floor: the same two lines, already built, each written with one writeSync
// on an O_APPEND descriptor (what any correct writer must at least do). Paired: the two
// alternate in rounds, side by side in one process, each in its own temporary store.
//
//   node bench/ts_recorder.mjs [--quick] [--json]
//
// No budget is set for it (DESIGN.md's recorder budget is the Python SDK's); it reports
// the ratio, wall and CPU time per phase, and checks the lines it wrote.
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, writeSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const { Recorder } = await import(join(here, "..", "clients", "typescript", "dist", "index.js"));

const quick = process.argv.includes("--quick");
const asJson = process.argv.includes("--json");
const n = quick ? 2_000 : 20_000;
const rounds = quick ? 3 : 9;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function timed(fn) {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  fn();
  const wall = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  return { wallNs: wall / n, cpuNs: ((cpu.user + cpu.system) * 1000) / n };
}

const recorderStore = join(mkdtempSync(join(tmpdir(), "laptime-bench-ts-")), ".laptime");
const recorder = new Recorder({ home: recorderStore, onWarning: (m) => { throw new Error(m); } });
const run = recorder.startRun({ name: "bench", runner: "bench" });
const noop = () => undefined;

const floorStore = mkdtempSync(join(tmpdir(), "laptime-bench-floor-"));
const floorFd = openSync(join(floorStore, "floor.jsonl"), "a", 0o644);
const startLine = `{"type":"span_start","v":1,"id":"01a236cab7037a8582e1ed1e00003307","ts":"2026-12-02T12:46:24.515103Z","run":"${run.id}","parent":"${run.id}","span":"01a236cab7037a8582e1ed1e00003307","kind":"phase","name":"step"}\n`;
const endLine = `{"type":"span_end","v":1,"id":"01a236cab7237a8582e1ed1e0000330d","ts":"2026-12-02T12:46:24.547639Z","run":"${run.id}","span":"01a236cab7037a8582e1ed1e00003307"}\n`;

const results = { recorder: [], floor: [] };
for (let round = 0; round < rounds; round++) {
  results.recorder.push(timed(() => { for (let i = 0; i < n; i++) run.phase("step", noop); }));
  results.floor.push(timed(() => { for (let i = 0; i < n; i++) { writeSync(floorFd, startLine); writeSync(floorFd, endLine); } }));
}
run.end();
await recorder.close();
closeSync(floorFd);

const lines = readdirSync(join(recorderStore, "log")).flatMap((f) =>
  readFileSync(join(recorderStore, "log", f), "utf8").trimEnd().split("\n"),
);
const expected = 2 + 2 * n * rounds;
const ok = lines.length === expected && lines.every((l) => JSON.parse(l).v === 1);

const figure = (key, field) => median(results[key].map((r) => r[field]));
const summary = {
  benchmark: "ts_recorder",
  node: process.version,
  cpu: cpus()[0]?.model ?? "unknown",
  cores: cpus().length,
  load: loadavg().map((x) => Number(x.toFixed(2))),
  n_per_round: n,
  rounds,
  recorder_wall_ns: Math.round(figure("recorder", "wallNs")),
  recorder_cpu_ns: Math.round(figure("recorder", "cpuNs")),
  floor_wall_ns: Math.round(figure("floor", "wallNs")),
  floor_cpu_ns: Math.round(figure("floor", "cpuNs")),
  lines_checked: ok,
};
summary.ratio_wall = Number((summary.recorder_wall_ns / summary.floor_wall_ns).toFixed(2));
summary.ratio_cpu = Number((summary.recorder_cpu_ns / summary.floor_cpu_ns).toFixed(2));

if (asJson) {
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} else {
  process.stdout.write(
    `machine: ${summary.cpu}, ${summary.cores} cores, load ${summary.load.join(" ")}, node ${summary.node}\n` +
      `n = ${n} phases x ${rounds} rounds, medians per phase (enter + exit, 2 lines appended)\n` +
      `recorder  wall ${summary.recorder_wall_ns} ns  cpu ${summary.recorder_cpu_ns} ns\n` +
      `floor     wall ${summary.floor_wall_ns} ns  cpu ${summary.floor_cpu_ns} ns   (2 prebuilt lines, 2 writeSync)\n` +
      `ratio     wall ${summary.ratio_wall}x  cpu ${summary.ratio_cpu}x   (no budget: reported only)\n` +
      `lines     ${ok ? "ok" : `MISMATCH: ${lines.length} lines, expected ${expected}`}\n`,
  );
}
process.exitCode = ok ? 0 : 1;
