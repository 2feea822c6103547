/**
 * Pytree paths (`params.experts.w1`, `tree.children[0].gate.w`) as nested
 * structures, TypeScript types and accessor expressions, for generated code.
 */

type Segment = string | number;

/** `a.b[0].c` -> ["a", "b", 0, "c"]. */
export function parsePath(path: string): Segment[] {
  const out: Segment[] = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return out;
}

/** A tree of leaves (their indices) built from paths. */
export type PathTree = { kind: "leaf"; index: number } | PathNode;
interface PathNode {
  kind: "node";
  array: boolean;
  children: Map<Segment, PathTree>;
}

export function pathTree(paths: readonly string[]): PathTree {
  const root: PathNode = { kind: "node", array: false, children: new Map() };
  paths.forEach((p, index) => {
    const segs = parsePath(p);
    let node = root;
    segs.forEach((s, i) => {
      if (typeof s === "number") node.array = true;
      if (i === segs.length - 1) {
        node.children.set(s, { kind: "leaf", index });
        return;
      }
      let next = node.children.get(s);
      if (!next) {
        next = { kind: "node", array: false, children: new Map() };
        node.children.set(s, next);
      }
      if (next.kind !== "node") throw new Error(`internal: path ${p} goes through a leaf`);
      node = next;
    });
  });
  return root;
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const key = (s: string) => (IDENT.test(s) ? s : JSON.stringify(s));

/** The TypeScript type of a path tree with `leaf` at every leaf (arrays as tuples). */
export function treeType(t: PathTree, leaf: string): string {
  if (t.kind === "leaf") return leaf;
  const entries = [...t.children];
  if (t.array) return `[${entries.map(([, c]) => treeType(c, leaf)).join(", ")}]`;
  return `{ ${entries.map(([k, c]) => `readonly ${key(String(k))}: ${treeType(c, leaf)};`).join(" ")} }`;
}

/** An object/array literal of a path tree, leaf i written as `leaf(i)`. */
export function treeLiteral(t: PathTree, leaf: (index: number) => string): string {
  if (t.kind === "leaf") return leaf(t.index);
  const entries = [...t.children];
  if (t.array) return `[${entries.map(([, c]) => treeLiteral(c, leaf)).join(", ")}]`;
  return `{ ${entries.map(([k, c]) => `${key(String(k))}: ${treeLiteral(c, leaf)}`).join(", ")} }`;
}

/** The expression reading `path` from `root`: `inputs.params.w1`, `inputs.tree.children[0]`. */
export function accessor(root: string, path: string): string {
  return (
    root +
    parsePath(path)
      .map((s) => (typeof s === "number" ? `[${s}]` : IDENT.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`))
      .join("")
  );
}

/** `switch_layer` / `switchLayer` -> `SwitchLayer`. */
export function pascalCase(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join("");
}
