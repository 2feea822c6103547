import { Tensor } from "./tensor";

/**
 * Pytrees: nested plain objects and arrays whose leaves are tensors
 * (`null`/`undefined` are empty subtrees). Parameters and batches are pytrees.
 */
export type TreeDef =
  | { readonly kind: "leaf" }
  | { readonly kind: "none"; readonly value: null | undefined }
  | { readonly kind: "array"; readonly children: readonly TreeDef[] }
  | { readonly kind: "object"; readonly keys: readonly string[]; readonly children: readonly TreeDef[] };

/** A pytree whose leaves have type L. */
export type Tree<L> = L | null | undefined | readonly Tree<L>[] | { readonly [k: string]: Tree<L> };

/** Maps a pytree type's tensor leaves to another leaf type. */
export type MapTree<T, L> = T extends Tensor
  ? L
  : T extends null | undefined
    ? T
    : T extends readonly unknown[]
      ? { [K in keyof T]: MapTree<T[K], L> }
      : T extends object
        ? { [K in keyof T]: MapTree<T[K], L> }
        : never;

export class PytreeError extends TypeError {
  override name = "PytreeError";
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== "object") return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/**
 * Flattens a pytree into its leaves (depth first, object keys in insertion order)
 * and a structure description. `isLeaf` says what counts as a leaf (default: Tensor).
 */
export function flatten<L = Tensor>(
  tree: unknown,
  isLeaf: (x: unknown) => boolean = (x) => x instanceof Tensor,
  path = "tree",
): [L[], TreeDef] {
  const leaves: L[] = [];
  const walk = (x: unknown, p: string): TreeDef => {
    if (isLeaf(x)) {
      leaves.push(x as L);
      return { kind: "leaf" };
    }
    if (x === null || x === undefined) return { kind: "none", value: x };
    if (Array.isArray(x)) return { kind: "array", children: x.map((c, i) => walk(c, `${p}[${i}]`)) };
    if (isPlainObject(x)) {
      const keys = Object.keys(x);
      return { kind: "object", keys, children: keys.map((k) => walk(x[k], `${p}.${k}`)) };
    }
    const what = typeof x === "object" ? ((x as object).constructor?.name ?? "object") : typeof x;
    throw new PytreeError(
      `${p}: a pytree leaf must be a Tensor, got ${what}${typeof x === "number" ? ` (${x})` : ""}; ` +
        `wrap numbers with tensor(...) or close over them instead of passing them`,
    );
  };
  const def = walk(tree, path);
  return [leaves, def];
}

/** Rebuilds a pytree of the given structure from its leaves. */
export function unflatten<L>(def: TreeDef, leaves: readonly L[]): unknown {
  let i = 0;
  const build = (d: TreeDef): unknown => {
    switch (d.kind) {
      case "leaf":
        if (i >= leaves.length) throw new PytreeError(`unflatten: too few leaves (${leaves.length}) for the structure`);
        return leaves[i++];
      case "none":
        return d.value;
      case "array":
        return d.children.map(build);
      case "object": {
        const o: Record<string, unknown> = {};
        d.keys.forEach((k, j) => (o[k] = build(d.children[j]!)));
        return o;
      }
    }
  };
  const out = build(def);
  if (i !== leaves.length) throw new PytreeError(`unflatten: ${leaves.length} leaves given, the structure has ${i}`);
  return out;
}

export function treeLeafCount(def: TreeDef): number {
  switch (def.kind) {
    case "leaf":
      return 1;
    case "none":
      return 0;
    default:
      return def.children.reduce((s, c) => s + treeLeafCount(c), 0);
  }
}

export function treeDefEqual(a: TreeDef, b: TreeDef): boolean {
  return treeDefKey(a) === treeDefKey(b);
}

export function treeDefKey(d: TreeDef): string {
  switch (d.kind) {
    case "leaf":
      return "*";
    case "none":
      return String(d.value);
    case "array":
      return `[${d.children.map(treeDefKey).join(",")}]`;
    case "object":
      return `{${d.keys.map((k, i) => `${JSON.stringify(k)}:${treeDefKey(d.children[i]!)}`).join(",")}}`;
  }
}

/** Pytree utilities (`tree.map`, `tree.flatten`, `tree.unflatten`, `tree.leaves`). */
export const tree = {
  flatten: <T>(t: T): [Tensor[], TreeDef] => flatten<Tensor>(t),
  unflatten: <T = unknown>(def: TreeDef, leaves: readonly Tensor[]): T => unflatten(def, leaves) as T,
  leaves: (t: unknown): Tensor[] => flatten<Tensor>(t)[0],
  /**
   * Applies `fn` leafwise over one or more trees of the same structure.
   * @example tree.map((p, g) => p.sub(g.mul(0.1)), params, grads)
   */
  map<T>(fn: (...leaves: Tensor[]) => Tensor, first: T, ...rest: unknown[]): T {
    const [l0, d0] = flatten<Tensor>(first);
    const others = rest.map((r, i) => {
      const [l, d] = flatten<Tensor>(r, undefined, `tree #${i + 2}`);
      if (!treeDefEqual(d, d0))
        throw new PytreeError(`tree.map: tree #${i + 2} has structure ${treeDefKey(d)}, expected ${treeDefKey(d0)}`);
      return l;
    });
    return unflatten(
      d0,
      l0.map((x, j) => fn(x, ...others.map((o) => o[j]!))),
    ) as T;
  },
};
