/**
 * Splits a model's reverse-mode program into the two programs an application
 * runs at different times: the forward (outputs plus the activations the
 * backward will need, "saved") and the backward (input cotangents from the
 * inputs, the saved activations and the output cotangents).
 *
 * `vjpProgram(p)` computes [outputs, input cotangents] from [primals, output
 * cotangents] in one program. Its equations that the outputs need form the
 * forward; the remaining ones needed by the cotangents form the backward. A
 * value the forward computes and the backward reads is saved; a value only the
 * backward needs is recomputed there (nothing is saved that the forward does
 * not compute anyway).
 */
import { vjpProgram } from "../autodiff/vjp";
import { isFloat } from "../dsl/dtype";
import type { NDArray } from "../dsl/ndarray";
import { Program, type Eqn, type Var } from "../dsl/program";

/** The forward and backward programs of a model, and what passes between them. */
export interface SplitGradient {
  /** inputs -> [...outputs, ...saved] */
  readonly forward: Program;
  /** [...inputs, ...saved, ...output cotangents] -> one cotangent per float input */
  readonly backward: Program;
  readonly outputCount: number;
  readonly saved: readonly Var[];
  /** Indices (into the program's inputs) of the inputs that get a cotangent. */
  readonly wrt: readonly number[];
}

/** The equations (in order) that `roots` depend on, and the variables they read that no such equation defines. */
function slice(eqns: readonly Eqn[], roots: Iterable<Var>): { eqns: Eqn[]; reads: Set<Var> } {
  const needed = new Set<Var>(roots);
  const kept: Eqn[] = [];
  for (let i = eqns.length - 1; i >= 0; i--) {
    const e = eqns[i]!;
    if (!needed.has(e.out)) continue;
    kept.push(e);
    for (const v of e.inputs) needed.add(v);
  }
  kept.reverse();
  const defined = new Set(kept.map((e) => e.out));
  return { eqns: kept, reads: new Set([...needed].filter((v) => !defined.has(v))) };
}

function constsFor(all: ReadonlyMap<Var, NDArray>, reads: ReadonlySet<Var>): Map<Var, NDArray> {
  return new Map([...all].filter(([v]) => reads.has(v)));
}

/**
 * The forward/backward split of `program`'s gradient with respect to its float inputs.
 * @example
 * const { forward, backward, saved } = splitGradient(trace(layer, params, spec(["T", 16])));
 */
export function splitGradient(program: Program): SplitGradient {
  const wrtMask = program.inputs.map((v) => isFloat(v.dtype));
  const vjp = vjpProgram(program, wrtMask);
  const nIn = program.inputs.length;
  const nOut = program.outputs.length;
  const primals = vjp.inputs.slice(0, nIn);
  const cotangents = vjp.inputs.slice(nIn);
  const outputs = vjp.outputs.slice(0, nOut);
  const grads = vjp.outputs.slice(nOut);

  const fwd = slice(vjp.eqns, outputs);
  const forwardDefined = new Set(fwd.eqns.map((e) => e.out));
  const forwardEqns = new Set(fwd.eqns);
  const rest = vjp.eqns.filter((e) => !forwardEqns.has(e));
  const bwd = slice(rest, grads);
  // Saved: forward values the backward reads (or returns), in the forward's order.
  const savedSet = new Set([...bwd.reads].filter((v) => forwardDefined.has(v)));
  for (const g of grads) if (forwardDefined.has(g)) savedSet.add(g);
  const saved = fwd.eqns.map((e) => e.out).filter((v) => savedSet.has(v));

  const forward = new Program(
    primals,
    constsFor(vjp.consts, fwd.reads),
    fwd.eqns,
    [...outputs, ...saved],
    program.inTree,
  );
  const backward = new Program(
    [...primals, ...saved, ...cotangents],
    constsFor(vjp.consts, new Set([...bwd.reads, ...grads])),
    bwd.eqns,
    grads,
  );
  return {
    forward,
    backward,
    outputCount: nOut,
    saved,
    wrt: wrtMask.flatMap((w, i) => (w ? [i] : [])),
  };
}
