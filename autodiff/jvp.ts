import { isFloat } from "../dsl/dtype";
import type { Program, Var } from "../dsl/program";
import { PRIMITIVES } from "../dsl/primitives/registry";
import { zerosLike } from "../dsl/ops";
import { Tensor } from "../dsl/tensor";
import { bind, traceFlat } from "../dsl/trace";

/**
 * Forward-mode transform, Program -> Program.
 * The result takes `[...primals, ...tangents]` (one tangent per input marked in
 * `withTangent`) and returns `[...outputs, ...outputTangents]`.
 * Each equation's tangent comes from its primitive's `jvp` rule; zero tangents
 * are tracked symbolically (`null`) and cost nothing.
 */
export function jvpProgram(
  program: Program,
  withTangent: readonly boolean[] = program.inputs.map((v) => isFloat(v.dtype)),
): Program {
  const tangentInputs = program.inputs.filter((_, i) => withTangent[i]);
  const n = program.inputs.length;
  return traceFlat(
    (...args) => {
      const primal = new Map<Var, Tensor>();
      const tangent = new Map<Var, Tensor>();
      program.inputs.forEach((v, i) => primal.set(v, args[i]!));
      tangentInputs.forEach((v, j) => tangent.set(v, args[n + j]!));
      for (const [v, arr] of program.consts) primal.set(v, Tensor._concrete(arr));
      for (const e of program.eqns) {
        const ins = e.inputs.map((v) => primal.get(v)!);
        const out = bind(e.prim, ins, e.params);
        primal.set(e.out, out);
        const ts = e.inputs.map((v) => tangent.get(v) ?? null);
        if (ts.some((t) => t) && isFloat(e.out.dtype)) {
          const t = (
            PRIMITIVES[e.prim].jvp as (p: Tensor[], t: (Tensor | null)[], params: unknown, o: Tensor) => Tensor | null
          )(ins, ts, e.params, out);
          if (t) tangent.set(e.out, t);
        }
      }
      const outs = program.outputs.map((v) => primal.get(v)!);
      const touts = program.outputs.map((v, i) => tangent.get(v) ?? zerosLike(outs[i]!));
      return [...outs, ...touts];
    },
    [...program.inputs, ...tangentInputs],
  ).program;
}
