/**
 * Which equations make their kernel bind the run-time check flag (the i32[3]
 * buffer of `IndexChecks`, codegen/lower/lower.ts): the fusion pass counts it
 * as one more buffer of the kernel, so a kernel fused up to the device's
 * storage-buffer limit does not pass it once its checks are compiled in.
 *
 * The conditions mirror the lowerings: `take` and `gather` check an index not
 * proven in range (expr_rules.ts); scatters and bincount likewise
 * (ops/scatter.ts). Group-size checks of grouped GEMMs run in a kernel of their
 * own (ops/ragged.ts) and cost the GEMM's kernel nothing. `compile` re-checks
 * the lowered kernels' bindings, so a condition that drifts from its lowering
 * costs a replan, never a kernel over the limit.
 */
import type { Dim } from "../../dsl/shape";
import type { Eqn, Program } from "../../dsl/program";
import { analyzeValueFacts, indexInRange } from "../analysis/value_facts";

/**
 * The predicate for `FusionOptions.bindsCheckFlag`: with `checks` off, never.
 * @example fuse(p, LOWERINGS, { bindsCheckFlag: checkFlagBinder(p, true) })
 */
export function checkFlagBinder(program: Program, checks: boolean): (e: Eqn) => boolean {
  if (!checks) return () => false;
  const facts = analyzeValueFacts(program);
  const unproven = (e: Eqn, pos: number, size: Dim) => !indexInRange(facts, e.inputs[pos]!, size);
  return (e) => {
    switch (e.prim) {
      case "take":
      case "gather":
      case "scatterAdd":
      case "scatterAddAlong": {
        const { axis } = (e as Eqn<"take">).params;
        return unproven(e, 1, e.inputs[0]!.shape[axis]!);
      }
      case "bincount":
        return unproven(e, 0, (e as Eqn<"bincount">).params.length);
      default:
        return false;
    }
  };
}
