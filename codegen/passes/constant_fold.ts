/**
 * Constant folding with the interpreter's own primitive implementations (so a
 * folded value is exactly what the program would have computed):
 * - an equation whose inputs are all constants, with a small concrete output,
 *   becomes a constant;
 * - elementwise math on uniform constants (broadcast scalars) is done once on
 *   the scalar and broadcast again, so big constant tensors are never built.
 */
import { NDArray } from "../../dsl/ndarray";
import type { Program } from "../../dsl/program";
import { BINARY_PRIMS, COMPARE_PRIMS, UNARY_PRIMS, type Primitive } from "../../dsl/primitives/params";
import { PRIMITIVES } from "../../dsl/primitives/registry";
import { isConcrete, numel } from "../../dsl/shape";
import { ProgramRewriter } from "./rewrite";
import { UniformConstants } from "./scalars";

/** Outputs larger than this stay computed (folding would only inflate the program's constants). */
export const MAX_FOLDED_ELEMENTS = 1024;

const ELEMENTWISE = new Set<Primitive>([
  ...UNARY_PRIMS,
  ...BINARY_PRIMS,
  ...COMPARE_PRIMS,
  "select",
  "cast",
  "bitsToUniform",
  "stopGradient",
]);

/** @example constantFold(trace((x) => add(x, mul(full([3], 2), 3)), spec([3]))) // the mul becomes broadcast(6) */
export function constantFold(program: Program): Program {
  const rw = new ProgramRewriter(program);
  const uniform = new UniformConstants(program);
  let changed = false;
  for (const e0 of program.eqns) {
    const inputs = e0.inputs.map((v) => rw.get(v));
    const e = { ...e0, inputs };
    const foldable = e.prim !== "customVjpCall" && isConcrete(e.out.shape);
    if (foldable && inputs.every((v) => rw.consts.has(v)) && numel(e.out.shape as number[]) <= MAX_FOLDED_ELEMENTS) {
      const value = tryImpl(
        e.prim,
        inputs.map((v) => rw.consts.get(v)!),
        e.params,
      );
      if (!value) {
        rw.keep(e0);
        continue;
      }
      const c = rw.constant(value);
      uniform.set(c, value);
      rw.replace(e.out, c);
      changed = true;
      continue;
    }
    if (
      ELEMENTWISE.has(e.prim) &&
      inputs.length > 0 &&
      inputs.every((v) => uniform.array(v)) &&
      !inputs.every((v) => rw.consts.has(v))
    ) {
      const scalars = inputs.map((v) => new NDArray(v.dtype, [], uniform.array(v)!.data));
      const value = tryImpl(e.prim, scalars, e.params);
      if (!value) {
        rw.keep(e0);
        continue;
      }
      const c = rw.constant(value);
      uniform.set(c, value);
      const out = e.out.shape.length === 0 ? c : rw.bind("broadcastTo", [c], { shape: e.out.shape });
      uniform.set(out, value);
      rw.replace(e.out, out);
      changed = true;
      continue;
    }
    rw.keep(e0);
    uniform.see(rw.eqns[rw.eqns.length - 1]!);
  }
  return changed ? rw.finish() : program;
}

/** Runs a primitive's interpreter implementation; `undefined` when it rejects the values (left for run time). */
function tryImpl(prim: Primitive, inputs: NDArray[], params: unknown): NDArray | undefined {
  try {
    return PRIMITIVES[prim].impl(inputs, params as never);
  } catch {
    return undefined;
  }
}
