/**
 * JVP rules of primitives that are linear (or bilinear) in their float operands,
 * after JAX's `deflinear`: the tangent of a linear map is the map of the tangents,
 * so the rule is the primitive itself, bound again. Written once here instead of
 * once per primitive.
 */
import * as ops from "../ops";
import type { Tensor } from "../tensor";
import { bind } from "../trace";
import type { PrimitiveDef } from "./def";
import type { Primitive } from "./params";

type Jvp<P extends Primitive> = PrimitiveDef<P>["jvp"];

/**
 * The JVP of a primitive linear in all its operands but those at `fixed` (indices,
 * group sizes: passed through as the primals): `prim(tangents)`, a zero standing
 * for each absent tangent, and no tangent at all when every one is absent.
 * @example jvp: linearJvp("transpose") // d transpose(x) = transpose(dx)
 * @example jvp: linearJvp("take", [1]) // d take(x, idx) = take(dx, idx)
 */
export function linearJvp<P extends Primitive>(prim: P, fixed: readonly number[] = []): Jvp<P> {
  return (primals, tangents, params) => {
    const linear = primals.map((_, i) => !fixed.includes(i));
    if (!tangents.some((t, i) => linear[i] && t)) return null;
    const args = primals.map((x, i) => (linear[i] ? (tangents[i] ?? ops.zerosLike(x)) : x));
    return bind(prim, args, params);
  };
}

/**
 * The JVP of a primitive bilinear in operands 0 and 1 (later ones passed through):
 * `d f(a, b) = f(da, b) + f(a, db)`, skipping the term of an absent tangent.
 * @example jvp: bilinearJvp("matmul") // d (a @ b) = da @ b + a @ db
 */
export function bilinearJvp<P extends Primitive>(prim: P): Jvp<P> {
  return ([a, b, ...rest], [ta, tb], params) => {
    const terms = [ta && bind(prim, [ta, b!, ...rest], params), tb && bind(prim, [a!, tb, ...rest], params)].filter(
      (t): t is Tensor => !!t,
    );
    return terms.length === 0 ? null : terms.length === 1 ? terms[0]! : ops.add(terms[0]!, terms[1]!);
  };
}
