// The layers point one way: core (dsl/, autodiff/) <- codegen/, backends/ <- moe/ <- the package entry.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { importCycles, importGraph, reachable } from "../../testing/imports";

const root = new URL("../..", import.meta.url).pathname;
const graph = importGraph(root);

function importsFrom(folder: string): [string, string][] {
  const edges: [string, string][] = [];
  for (const [file, deps] of graph) if (file.startsWith(folder)) for (const d of deps) edges.push([file, d]);
  return edges;
}

describe("layering", () => {
  it("reads the import graph (sanity: the core's own edges are found)", () => {
    expect(graph.get("dsl/ops.ts")).toContain("dsl/trace.ts");
    expect(graph.get("index.ts")).toContain("core.ts");
  });

  it("the core (dsl/, autodiff/) imports no backend, code generator or MoE module", () => {
    const bad = [...importsFrom("dsl/"), ...importsFrom("autodiff/")].filter(([, d]) =>
      /^(backends|codegen|moe)\/|^index\.ts$/.test(d),
    );
    expect(bad).toEqual([]);
  });

  it("codegen/ imports no backend and no MoE module", () => {
    expect(importsFrom("codegen/").filter(([, d]) => /^(backends|moe)\/|^index\.ts$/.test(d))).toEqual([]);
  });

  it("moe/ imports the core barrel, never the package entry or a backend", () => {
    expect(importsFrom("moe/").filter(([, d]) => /^(backends|codegen)\/|^index\.ts$/.test(d))).toEqual([]);
  });

  it("library code imports no test, bench or script module", () => {
    const library = /^(dsl|autodiff|codegen|backends|moe)\//;
    const bad = [...graph].flatMap(([f, deps]) =>
      library.test(f) ? deps.filter((d) => /^(test|bench|scripts|testing)\//.test(d)).map((d) => [f, d]) : [],
    );
    expect(bad).toEqual([]);
  });

  it("no import cycle anywhere in the source tree (tests, scripts and benches included)", () => {
    // Nothing is excluded. `import type` is erased at run time and does not count (testing/imports.ts).
    expect(importCycles(importGraph(root, { tests: true }))).toEqual([]);
  });

  it("every entry that can bind a primitive loads the primitive table", () => {
    // trace.ts cannot import the table (the primitives' AD rules call the ops, which bind);
    // dsl/primitives/registry.ts installs it. An entry (a file nothing imports: the package
    // entries, scripts, benches, examples) that reaches `bind` must load the registry too.
    const imported = new Set([...graph.values()].flat());
    const entries = [...graph.keys()].filter((f) => !imported.has(f));
    const missing = entries.filter((f) => {
      const seen = reachable(graph, f);
      return seen.has("dsl/trace.ts") && !seen.has("dsl/primitives/registry.ts");
    });
    expect(entries).toEqual(expect.arrayContaining(["cuda.ts", "bench/run.ts"]));
    expect(missing).toEqual([]);
  });

  it("finds a cycle when there is one (the checker itself)", () => {
    const fake = new Map([
      ["a.ts", ["b.ts"]],
      ["b.ts", ["c.ts"]],
      ["c.ts", ["a.ts"]],
      ["d.ts", ["a.ts"]],
    ]);
    expect(importCycles(fake)).toEqual([["a.ts", "b.ts", "c.ts"]]);
  });
});

describe("targets are described by capabilities", () => {
  // A comparison with a target name (either side), or a switch case on one.
  const NAME_CHECK =
    /(===|!==)\s*"(js|wgsl|cuda|wasm)"|"(js|wgsl|cuda|wasm)"\s*(===|!==)|case\s+"(js|wgsl|cuda|wasm)"\s*:/;

  it("codegen compares no target names outside the emitters and the capability table", () => {
    const offenders = [...graph.keys()]
      .filter((f) => f.startsWith("codegen/") && !f.startsWith("codegen/emit/") && f !== "codegen/targets.ts")
      .filter((f) => NAME_CHECK.test(readFileSync(root + f, "utf8")));
    expect(offenders).toEqual([]);
  });

  it("the name check sees comparisons and switch cases (the checker itself)", () => {
    for (const bad of ['if (target === "js")', 'gpu = "wgsl" !== shape', 'case "cuda":'])
      expect(NAME_CHECK.test(bad)).toBe(true);
    expect(NAME_CHECK.test('scheduleFor("wgsl")')).toBe(false);
  });
});
