/**
 * Inlines `customVjpCall` equations: a custom rule only changes gradients, so
 * for kernels the call is its primal program, spliced in with fresh variables
 * (a function called twice gets two copies). Nested calls are inlined too.
 */
import type { Program, Var } from "../../dsl/program";
import { ProgramRewriter } from "./rewrite";

/** @example inlineCalls(trace((x) => myCustomFn(x), spec([3]))).eqns.some((e) => e.prim === "customVjpCall") // false */
export function inlineCalls(program: Program): Program {
  if (!program.eqns.some((e) => e.prim === "customVjpCall")) return program;
  const rw = new ProgramRewriter(program);
  for (const e of program.eqns) {
    if (e.prim !== "customVjpCall") {
      rw.keep(e);
      continue;
    }
    const callee = inlineCalls((e.params as { program: Program }).program);
    const env = new Map<Var, Var>();
    callee.inputs.forEach((v, i) => env.set(v, rw.get(e.inputs[i]!)));
    for (const [v, value] of callee.consts) env.set(v, rw.constant(value));
    for (const inner of callee.eqns)
      env.set(
        inner.out,
        rw.bind(
          inner.prim,
          inner.inputs.map((v) => env.get(v)!),
          inner.params as never,
        ),
      );
    rw.replace(e.out, env.get(callee.outputs[0]!)!);
  }
  return rw.finish();
}
