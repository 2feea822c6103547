/**
 * The graph-pass pipeline `compile` runs before fusion. Each pass is a pure
 * Program -> Program function (see its module); the order matters only for
 * how much gets simplified, never for correctness.
 */
import type { Program } from "../../dsl/program";
import { dce } from "./dce";
import { inlineCalls } from "./inline_calls";

/** Runs the graph passes. @example optimize(trace((x) => x.mul(1).add(0), spec([3]))).eqns.length // 0 */
export function optimize(program: Program): Program {
  return dce(inlineCalls(program));
}
