/**
 * Common-subexpression elimination: an equation with the same primitive,
 * operands and parameters as an earlier one reuses its result; equal small
 * constants are merged first. (Calls with user callbacks are never merged.)
 */
import type { NDArray } from "../../dsl/ndarray";
import type { Program, Var } from "../../dsl/program";
import { ProgramRewriter } from "./rewrite";

/** Constants up to this many elements are compared by value. */
const MAX_MERGED_CONST = 64;

function constKey(a: NDArray): string | undefined {
  return a.size <= MAX_MERGED_CONST
    ? `${a.dtype}[${a.shape.join(",")}]:${Array.from(a.data, (x) => (Object.is(x, -0) ? "-0" : String(x))).join(",")}`
    : undefined;
}

/** @example cse(trace((x) => add(exp(x), exp(x)), spec([3]))).eqns.length // 2 */
export function cse(program: Program): Program {
  const rw = new ProgramRewriter(program);
  let changed = false;
  const byValue = new Map<string, Var>();
  for (const [v, a] of program.consts) {
    const key = constKey(a);
    if (!key) continue;
    const first = byValue.get(key);
    if (first) {
      rw.replace(v, first);
      changed = true;
    } else byValue.set(key, v);
  }
  const seen = new Map<string, Var>();
  for (const e of program.eqns) {
    const inputs = e.inputs.map((v) => rw.get(v));
    if (e.prim !== "customVjpCall") {
      const key = `${e.prim}(${inputs.map((v) => v.id).join(",")})${JSON.stringify(e.params)}`;
      const prev = seen.get(key);
      if (prev) {
        rw.replace(e.out, prev);
        changed = true;
        continue;
      }
      seen.set(key, e.out);
    }
    rw.keep(e);
  }
  return changed ? rw.finish() : program;
}
