/**
 * The inputs a model is traced with. A model module exports, next to its
 * function `name`, a description `nameInputs`: an object whose keys are the
 * function's arguments in order and whose values are pytrees of shapes. A
 * shape is an array of dims (f32) or `spec(dims, dtype)`; a dim is a number or
 * a name that `--dims` binds.
 *
 *   export const switchLayerInputs = { params: { router: ["D", "E"] }, x: ["T", "D"] };
 */
import { Spec } from "../dsl/api";
import { assertDType, type DType } from "../dsl/dtype";
import type { Dim } from "../dsl/shape";
import type { TreeDef } from "../dsl/pytree";
import { dimMul } from "../dsl/dims";
import { atomOf, formatBinding, type DimBinding } from "./dims";

/** One leaf of an input or output pytree: its path (e.g. `params.w1`), dtype and shape. */
export interface TensorSlot {
  readonly path: string;
  readonly dtype: DType;
  readonly shape: readonly Dim[];
}

export class InputsError extends Error {
  override name = "InputsError";
}

/** The traced arguments: one pytree of Specs per function argument, their leaves, and the dims they used. */
export interface ResolvedInputs {
  readonly names: readonly string[];
  readonly specs: readonly unknown[];
  readonly leaves: readonly TensorSlot[];
  /** Dim names the inputs use that stay symbolic, in first-use order. */
  readonly dynamic: readonly string[];
}

const isShape = (x: unknown): x is readonly Dim[] =>
  Array.isArray(x) && x.every((d) => typeof d === "number" || typeof d === "string");

const isSpecLike = (x: unknown): x is { shape: readonly Dim[]; dtype: string } =>
  x instanceof Spec ||
  (typeof x === "object" && x !== null && isShape((x as { shape?: unknown }).shape) && "dtype" in x);

/**
 * Resolves `description` with the `--dims` bindings: named dims bound to sizes
 * become numbers, `dynamic` ones stay names. Throws an InputsError naming the
 * leaf for a dim `--dims` does not give, or a malformed shape.
 * @example resolveInputs({ x: ["T", "D"] }, parseDims("T=dynamic,D=8")).specs // [spec(["T", 8])]
 */
export function resolveInputs(
  description: unknown,
  dims: ReadonlyMap<string, DimBinding>,
  what: string,
): ResolvedInputs {
  if (typeof description !== "object" || description === null || Array.isArray(description))
    throw new InputsError(
      `${what} must be an object whose keys are the function's arguments, e.g. { params: { w: ["D", "H"] }, x: ["T", "D"] }`,
    );
  const leaves: TensorSlot[] = [];
  const dynamic: string[] = [];
  const bindDim = (d: Dim, path: string): Dim => {
    if (typeof d === "number") {
      if (!Number.isInteger(d) || d < 0)
        throw new InputsError(`${what}: ${path} has dim ${d}; sizes are integers >= 0`);
      return d;
    }
    if (typeof d !== "string")
      throw new InputsError(`${what}: ${path} has a dim expression; write input shapes with numbers and names`);
    const b = dims.get(d);
    if (b === undefined)
      throw new InputsError(
        `the model needs dim ${d} (input ${path}), which --dims does not give; add ${d}=<size> or ${d}=dynamic`,
      );
    if (typeof b === "number") return b;
    if (!dynamic.includes(d)) dynamic.push(d);
    return b.multipleOf === 1 ? d : dimMul(b.multipleOf, atomOf(d, b));
  };
  const walk = (x: unknown, path: string): unknown => {
    if (isShape(x) || isSpecLike(x)) {
      const shape = (isShape(x) ? x : x.shape).map((d) => bindDim(d, path));
      const dtype: DType = isShape(x) ? "f32" : assertDType(x.dtype, `${what}: ${path}`);
      leaves.push({ path, dtype, shape });
      return new Spec(shape, dtype);
    }
    if (Array.isArray(x)) return x.map((c, i) => walk(c, `${path}[${i}]`));
    if (typeof x === "object" && x !== null)
      return Object.fromEntries(Object.entries(x).map(([k, c]) => [k, walk(c, `${path}.${k}`)]));
    throw new InputsError(
      `${what}: ${path} is ${JSON.stringify(x)}; ` +
        `expected a shape (an array of dims such as ["T", 512]), spec(dims, dtype), or an object/array of them`,
    );
  };
  const names = Object.keys(description);
  const specs = names.map((n) => walk((description as Record<string, unknown>)[n], n));
  for (const [name, b] of dims) {
    if (!leavesUse(description, name))
      throw new InputsError(`--dims gives ${name}=${formatBinding(b)}, but no input of the model has a dim ${name}`);
    if (typeof b !== "number" && b.multipleOf > 1 && leavesUse(description, atomOf(name, b)))
      throw new InputsError(
        `--dims: ${name} is a multiple of ${b.multipleOf}, traced as ${b.multipleOf}*${atomOf(name, b)}, ` +
          `but the inputs already use a dim named ${atomOf(name, b)}; rename it`,
      );
  }
  return { names, specs, leaves, dynamic };
}

/** Whether any shape in the description names `dim` (before binding). */
function leavesUse(x: unknown, dim: string): boolean {
  if (isShape(x)) return x.includes(dim);
  if (isSpecLike(x)) return x.shape.includes(dim);
  if (Array.isArray(x)) return x.some((c) => leavesUse(c, dim));
  if (typeof x === "object" && x !== null) return Object.values(x).some((c) => leavesUse(c, dim));
  return false;
}

/** The leaf paths of an output tree: `output` for a lone tensor, else the keys of an object result, `output[i]` of an array. */
export function outputSlots(
  def: TreeDef | undefined,
  avals: readonly { dtype: DType; shape: readonly Dim[] }[],
): TensorSlot[] {
  const paths: string[] = [];
  const walk = (d: TreeDef, path: string): void => {
    switch (d.kind) {
      case "leaf":
        paths.push(path);
        return;
      case "none":
        return;
      case "array":
        d.children.forEach((c, i) => walk(c, `${path}[${i}]`));
        return;
      case "object":
        d.children.forEach((c, i) => walk(c, path ? `${path}.${d.keys[i]}` : d.keys[i]!));
        return;
    }
  };
  if (!def || def.kind === "leaf") paths.push(...avals.map((_, i) => (avals.length === 1 ? "output" : `output[${i}]`)));
  else walk(def, def.kind === "object" ? "" : "output");
  return avals.map((a, i) => ({ path: paths[i]!, dtype: a.dtype, shape: a.shape }));
}
