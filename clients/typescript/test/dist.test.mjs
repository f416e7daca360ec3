// The package installs without a build step: dist/ is committed, so it must be exactly
// what the pinned TypeScript compiler makes of src/, its .d.ts must serve a typed runner,
// and `npm pack` must ship what `exports` names.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";

import { CLIENT, runNode, tmp } from "./helpers.mjs";

const TSC = join(CLIENT, "node_modules", "typescript", "bin", "tsc");

function tsc(...args) {
  assert.ok(existsSync(TSC), `no TypeScript compiler: run \`npm ci\` in ${CLIENT}`);
  return execFileSync(process.execPath, [TSC, ...args], { cwd: CLIENT, encoding: "utf8" });
}

describe("the shipped package", () => {
  test("dist/ is what the pinned compiler makes of src/ (run `npm run build` after changing src/)", () => {
    const out = tmp("laptime-ts-dist-");
    tsc("-p", "tsconfig.json", "--outDir", out);
    const built = readdirSync(out).sort();
    assert.deepEqual(readdirSync(join(CLIENT, "dist")).sort(), built);
    for (const name of built) {
      assert.equal(
        readFileSync(join(CLIENT, "dist", name), "utf8"),
        readFileSync(join(out, name), "utf8"),
        `dist/${name} is stale: run \`npm run build\` in clients/typescript`,
      );
    }
  });

  test("the .d.ts types a runner's code (test/consumer.ts), through the package's exports", () => {
    tsc("-p", join("test", "tsconfig.consumer.json"));
  });

  test("no runtime dependencies; the compiler is an exact dev pin, locked", () => {
    const pkg = JSON.parse(readFileSync(join(CLIENT, "package.json"), "utf8"));
    assert.equal(pkg.dependencies, undefined);
    for (const [name, version] of Object.entries(pkg.devDependencies)) assert.match(version, /^\d+\.\d+\.\d+$/, name);
    const lock = JSON.parse(readFileSync(join(CLIENT, "package-lock.json"), "utf8"));
    assert.equal(lock.packages["node_modules/typescript"].version, pkg.devDependencies.typescript);
    assert.equal(pkg.engines.node, ">=20");
  });

  test("npm pack ships dist/ and installs into a project, offline, ready to import", async () => {
    const work = tmp("laptime-ts-pack-");
    const env = { ...process.env, npm_config_cache: join(work, "npm-cache") }; // not the user's ~/.npm
    const packed = JSON.parse(
      execFileSync("npm", ["pack", "--json", "--pack-destination", work], { cwd: CLIENT, encoding: "utf8", env }),
    );
    const files = packed[0].files.map((f) => f.path);
    for (const needed of ["package.json", "README.md", "dist/index.js", "dist/index.d.ts", "dist/recorder.js"]) {
      assert.ok(files.includes(needed), `${needed} is not in the package: ${files}`);
    }
    assert.ok(!files.some((f) => f.startsWith("test/") || f.startsWith("node_modules/")));
    const project = join(work, "runner");
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), '{"name":"runner","version":"1.0.0","type":"module"}');
    execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", join(work, packed[0].filename)], {
      cwd: project,
      encoding: "utf8",
      env,
    });
    const home = join(work, ".laptime");
    const outcome = await runNode(
      `import { run } from "@laptime/recorder";
       run({ name: "installed" }, (r) => r.phase("p", () => process.stdout.write(r.id)));`,
      { LAPTIME_HOME: home },
      { cwd: project },
    );
    assert.equal(outcome.code, 0, outcome.stderr);
    const [segment] = readdirSync(join(home, "log"));
    assert.equal(readFileSync(join(home, "log", segment), "utf8").trimEnd().split("\n").length, 4);
  });
});
