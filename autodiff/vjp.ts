import { isFloat } from "../dsl/dtype";
import type { Eqn, Program, Var } from "../dsl/program";
import { PRIMITIVES } from "../dsl/primitives/registry";
import { add, zerosLike } from "../dsl/ops";
import { Tensor } from "../dsl/tensor";
import { shapeToString } from "../dsl/shape";
import { bind, traceFlat } from "../dsl/trace";

/**
 * Reverse-mode transform, Program -> Program.
 * The result takes `[...primals, ...outputCotangents]` and returns
 * `[...outputs, ...inputCotangents]`, one cotangent per input marked in `wrt`.
 * The forward equations are replayed, then each active equation's `vjp` rule
 * runs in reverse order; cotangents of a variable used twice are summed.
 * Only equations that depend on a `wrt` input are differentiated.
 */
export function vjpProgram(
  program: Program,
  wrt: readonly boolean[] = program.inputs.map((v) => isFloat(v.dtype)),
): Program {
  const n = program.inputs.length;
  return traceFlat(
    (...args) => {
      const primal = new Map<Var, Tensor>();
      const active = new Set<Var>();
      program.inputs.forEach((v, i) => {
        primal.set(v, args[i]!);
        if (wrt[i] && isFloat(v.dtype)) active.add(v);
      });
      for (const [v, arr] of program.consts) primal.set(v, Tensor._concrete(arr));
      const outTensors = new Map<Var, Tensor>();
      for (const e of program.eqns) {
        const out = bind(
          e.prim,
          e.inputs.map((v) => primal.get(v)!),
          e.params,
        );
        primal.set(e.out, out);
        outTensors.set(e.out, out);
        if (isFloat(e.out.dtype) && e.inputs.some((v) => active.has(v))) active.add(e.out);
      }

      const cotangent = new Map<Var, Tensor>();
      const accumulate = (v: Var, ct: Tensor) => {
        const prev = cotangent.get(v);
        cotangent.set(v, prev ? add(prev, ct) : ct);
      };
      program.outputs.forEach((v, i) => {
        if (active.has(v)) accumulate(v, args[n + i]!);
      });
      for (let k = program.eqns.length - 1; k >= 0; k--) {
        const e = program.eqns[k]!;
        const ct = cotangent.get(e.out);
        if (!ct || !active.has(e.out)) continue;
        if (e.prim === "customVjpCall") checkNoClosedOverGradient(e as Eqn<"customVjpCall">, active);
        const ins = e.inputs.map((v) => primal.get(v)!);
        const rule = PRIMITIVES[e.prim].vjp as (
          ct: Tensor,
          p: Tensor[],
          params: unknown,
          o: Tensor,
        ) => readonly (Tensor | null)[];
        const cts = rule(ct, ins, e.params, outTensors.get(e.out)!);
        e.inputs.forEach((v, j) => {
          const c = cts[j];
          if (c && active.has(v)) accumulate(v, c);
        });
      }
      const outs = program.outputs.map((v) => primal.get(v)!);
      const grads = program.inputs.flatMap((v, i) => (wrt[i] ? [cotangent.get(v) ?? zerosLike(primal.get(v)!)] : []));
      return [...outs, ...grads];
    },
    [...program.inputs, ...program.outputs],
  ).program;
}

/**
 * A custom rule gives cotangents for its explicit arguments only, so a gradient
 * that would flow into a value the function closes over would be silently
 * dropped: that is an error (JAX raises the same).
 */
function checkNoClosedOverGradient(e: Eqn<"customVjpCall">, active: ReadonlySet<Var>): void {
  const { nPrimals, name } = e.params;
  const v = e.inputs.find((x, j) => j >= nPrimals && active.has(x));
  if (!v) return;
  throw new Error(
    `customVjp "${name}": differentiating with respect to a value the function closes over (${v.dtype}${shapeToString(v.shape)}); ` +
      `a custom rule only gives gradients for its explicit arguments. Pass that value as an argument of the customVjp ` +
      `function and return its cotangent from bwd.`,
  );
}
