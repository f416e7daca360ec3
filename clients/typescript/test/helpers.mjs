// Shared by the Node tests: an in-memory sink, a recorder on it, temporary folders,
// child processes, and a loopback HTTP server that records what it got.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { Recorder } from "../dist/index.js";

export const CLIENT = dirname(dirname(fileURLToPath(import.meta.url)));

/** A sink that keeps the events it is given, parsed. */
export class MemorySink {
  events = [];
  write(line, day) {
    const event = JSON.parse(line);
    if (event.ts.slice(0, 10) !== day) throw new Error(`day ${day} for ts ${event.ts}`);
    this.events.push(event);
  }
  async flush() {}
  async close() {}
}

/** A recorder on a MemorySink; its warnings are collected in `warnings`. */
export function memoryRecorder(options = {}) {
  const sink = new MemorySink();
  const warnings = [];
  const recorder = new Recorder({ sink, onWarning: (message) => warnings.push(message), ...options });
  return { recorder, sink, events: sink.events, warnings };
}

const made = [];
process.on("exit", () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A new temporary folder, removed when the test file's process exits. */
export function tmp(prefix = "laptime-ts-") {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/**
 * Run `node -e script` (an ES module) with `env` added; resolves {code, stdout, stderr, ms}.
 * `onFirstLine(child)` is called once the child has printed its first line.
 */
export function runNode(script, env = {}, { cwd = CLIENT, timeoutMs = 60_000, onFirstLine = undefined } = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let told = false;
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      if (onFirstLine && !told && stdout.includes("\n")) {
        told = true;
        onFirstLine(child);
      }
    });
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`child did not end within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

export const DIST = join(CLIENT, "dist", "index.js");

/**
 * A loopback HTTP server. `handler(req, body)` returns {status, body, delayMs, hang}; every
 * request is kept in `requests` as {method, url, headers, body}.
 */
export async function loopbackServer(handler = () => ({ status: 200, body: '{"accepted":0}' })) {
  const requests = [];
  const sockets = new Set();
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      requests.push({ method: req.method, url: req.url, headers: req.headers, body });
      const answer = handler(req, body, requests.length) ?? {};
      if (answer.hang) return; // never answers: a slow receiver
      const send = () => {
        res.writeHead(answer.status ?? 200, { "content-type": "application/json" });
        res.end(answer.body ?? "{}");
      };
      if (answer.delayMs) setTimeout(send, answer.delayMs);
      else send();
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    /** The events of every request, in order. */
    events: () => requests.flatMap((r) => JSON.parse(r.body).events),
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(resolve);
      }),
  };
}

/** A loopback port nothing listens on (bound, then closed). */
export async function closedPort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}
