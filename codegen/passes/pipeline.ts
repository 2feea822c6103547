/**
 * The graph-pass pipeline `compile` runs before fusion. Each pass is a pure
 * Program -> Program function (see its module); the order matters only for
 * how much gets simplified, never for correctness.
 */
import type { Program } from "../../dsl/program";
import { capacityDispatch } from "./capacity_dispatch";
import { constantFold } from "./constant_fold";
import { cse } from "./cse";
import { dce } from "./dce";
import { inlineCalls } from "./inline_calls";
import { simplify } from "./simplify";

/**
 * Inline custom-VJP calls, simplify, put a capacity dispatch on the fused
 * routing path (before folding turns its broadcasts and iotas into data), fold
 * constants, merge common subexpressions, simplify what that exposed, drop dead code.
 * @example optimize(trace((x) => x.mul(1).add(0), spec([3]))).eqns.length // 0
 */
export function optimize(program: Program): Program {
  return dce(simplify(cse(constantFold(capacityDispatch(simplify(inlineCalls(program)))))));
}
