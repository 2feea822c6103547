/**
 * Uniform constants: variables whose every element is one known number (a
 * size-1 constant, possibly reshaped or broadcast). Folding and simplification
 * use them to recognise `x * 1`, `x + 0` and elementwise math on constants.
 */
import type { NDArray } from "../../dsl/ndarray";
import type { Eqn, Program, Var } from "../../dsl/program";

/** Finds the uniform constants of a program (by variable), following reshapes and broadcasts. */
export class UniformConstants {
  private readonly values = new Map<Var, NDArray>();

  constructor(program: Program) {
    for (const [v, a] of program.consts) if (a.size === 1) this.values.set(v, a);
  }

  /** Records what an equation's output is, given its (substituted) inputs. */
  see(e: Eqn): void {
    if ((e.prim === "broadcastTo" || e.prim === "reshape") && this.values.has(e.inputs[0]!))
      this.values.set(e.out, this.values.get(e.inputs[0]!)!);
  }

  set(v: Var, value: NDArray): void {
    if (value.size === 1) this.values.set(v, value);
  }

  /** The number every element of `v` holds, if it is a uniform constant. */
  value(v: Var): number | undefined {
    const a = this.values.get(v);
    return a ? a.data[0] : undefined;
  }

  array(v: Var): NDArray | undefined {
    return this.values.get(v);
  }
}
