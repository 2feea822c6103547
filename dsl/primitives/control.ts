import type { NDArray } from "../ndarray";
import { isFloat } from "../dtype";
import { Tensor } from "../tensor";
import { evalProgram, withSubstitutions } from "../trace";
import { checkArity, type PrimitiveDef } from "./def";

/** Identity whose derivative is zero. */
const stopGradient: PrimitiveDef<"stopGradient"> = {
  abstractEval(inputs) {
    checkArity("stopGradient", inputs, 1);
    return inputs[0]!;
  },
  impl([x]) {
    return x!;
  },
  jvp: () => null,
  vjp: () => [null],
};

/**
 * A call of a function with a user-defined VJP. The primal program gives its
 * value (and its kernels); the reverse rule runs the user's fwd, then bwd.
 */
const customVjpCall: PrimitiveDef<"customVjpCall"> = {
  abstractEval(inputs, { program }) {
    if (inputs.length !== program.inputs.length)
      throw new Error(`customVjp: expected ${program.inputs.length} inputs, got ${inputs.length}`);
    const out = program.outputs[0]!;
    return { shape: out.shape, dtype: out.dtype };
  },
  impl(inputs, { program }) {
    return evalProgram(
      program,
      inputs.map((a: NDArray) => Tensor._concrete(a)),
    )[0]!._value();
  },
  jvp(_p, _t, { name }) {
    throw new Error(
      `customVjp function "${name}" defines a reverse-mode rule only; forward mode (jvp) through it is not defined. ` +
        `Use grad/vjp, or write the function without customVjp for jvp.`,
    );
  },
  vjp(ct, primals, { nPrimals, captures, fwd, bwd, name }) {
    const xs = primals.slice(0, nPrimals);
    // fwd/bwd may close over the same outer tensors as fn, as they were when fn was
    // called (possibly tracers of a finished trace): they stand for this call's inputs.
    const current = new Map(captures.map((c, i) => [c, primals[nPrimals + i]!]));
    const cts = withSubstitutions(current, () => {
      const [, residuals] = fwd(...xs);
      return bwd(residuals, ct);
    });
    if (!Array.isArray(cts) || cts.length !== nPrimals) {
      throw new Error(
        `customVjp "${name}": bwd must return an array of ${nPrimals} cotangent(s), one per primal, got ` +
          `${Array.isArray(cts) ? cts.length : typeof cts}`,
      );
    }
    cts.forEach((c, i) => {
      const x = xs[i]!;
      if (c && (c.shape.length !== x.shape.length || c.shape.some((d: unknown, j: number) => d !== x.shape[j]))) {
        throw new Error(`customVjp "${name}": bwd cotangent ${i} has shape [${c.shape}], expected [${x.shape}]`);
      }
    });
    // Closed-over values get no cotangent from a custom rule (vjpProgram rejects differentiating through them).
    return [...cts.map((c, i) => (c && isFloat(xs[i]!.dtype) ? c : null)), ...primals.slice(nPrimals).map(() => null)];
  },
};

export const controlPrimitives = { stopGradient, customVjpCall };
