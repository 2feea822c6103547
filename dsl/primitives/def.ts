import type { NDArray } from "../ndarray";
import type { Aval } from "../program";
import type { Tensor } from "../tensor";
import type { Primitive, PrimParams } from "./params";

/**
 * Everything moeforge knows about one primitive, in one place:
 * - `abstractEval`: the shape/dtype rule (throws a ShapeError naming the op and shapes),
 * - `impl`: its meaning, on host arrays (the interpreter: the oracle for every backend),
 * - `jvp`: forward-mode rule (tangents are `null` when zero),
 * - `vjp`: reverse-mode rule (one cotangent per input, `null` for zero / not differentiable).
 * AD rules are written with the public ops, so their results are differentiable
 * again (grad of grad) and lower to kernels like any other program.
 * Kernel lowering lives in codegen's tables, keyed by the same primitive names.
 */
export interface PrimitiveDef<P extends Primitive> {
  abstractEval(inputs: readonly Aval[], params: PrimParams[P]): Aval;
  impl(inputs: readonly NDArray[], params: PrimParams[P]): NDArray;
  jvp(
    primals: readonly Tensor[],
    tangents: readonly (Tensor | null)[],
    params: PrimParams[P],
    out: Tensor,
  ): Tensor | null;
  vjp(ct: Tensor, primals: readonly Tensor[], params: PrimParams[P], out: Tensor): readonly (Tensor | null)[];
}

export type PrimitiveTable = { readonly [P in Primitive]: PrimitiveDef<P> };

export function checkArity(op: string, inputs: readonly unknown[], n: number): void {
  if (inputs.length !== n) throw new Error(`${op}: expected ${n} operand(s), got ${inputs.length}`);
}
