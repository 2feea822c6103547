/**
 * The project's import graph, read from the sources (relative imports only;
 * `import type` is erased at run time, so it does not count). Architecture
 * tests use it to keep the layers pointing one way.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";

/** Repository-relative path of a source file -> the files it imports at run time. */
export type ImportGraph = ReadonlyMap<string, readonly string[]>;

const IMPORT_RE = /^\s*(?:import|export)\s+(type\s+)?(?:[^;'"]*?\s+from\s+)?"(\.[^"]+)"/gm;

/** The run-time import graph of the tracked `.ts` files under `root` (tests excluded unless asked for). */
export function importGraph(root: string, options: { tests?: boolean } = {}): ImportGraph {
  const files = execFileSync("git", ["ls-files", "*.ts"], { cwd: root, encoding: "utf8" })
    .trim()
    .split("\n")
    .filter((f) => f && (options.tests || !f.startsWith("test/")) && !f.endsWith(".d.ts"));
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const deps: string[] = [];
    for (const m of readFileSync(join(root, file), "utf8").matchAll(IMPORT_RE)) {
      if (m[1]) continue; // import type / export type
      deps.push(resolveImport(root, file, m[2]!));
    }
    graph.set(file, deps);
  }
  return graph;
}

function resolveImport(root: string, from: string, specifier: string): string {
  const base = normalize(join(dirname(from), specifier));
  if (base.endsWith(".ts") || base.endsWith(".js") || base.endsWith(".json")) return base;
  return existsSync(join(root, base + ".ts")) ? base + ".ts" : join(base, "index.ts");
}

/** Strongly connected components with more than one file (import cycles), each sorted. */
export function importCycles(graph: ImportGraph): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1) cycles.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

/** The files `from` reaches through imports, itself included. */
export function reachable(graph: ImportGraph, from: string): Set<string> {
  const seen = new Set<string>();
  const todo = [from];
  for (let f = todo.pop(); f !== undefined; f = todo.pop()) {
    if (seen.has(f)) continue;
    seen.add(f);
    todo.push(...(graph.get(f) ?? []));
  }
  return seen;
}
