/**
 * A tiny helper for passes that rebuild a Program equation by equation:
 * variable substitution (an equation replaced by an existing variable), fresh
 * variables for new equations (ids above every id in the source program, so
 * names stay unique), and new constants.
 */
import type { NDArray } from "../../dsl/ndarray";
import { Program, Var, type Aval, type Eqn } from "../../dsl/program";
import type { Primitive, PrimParams } from "../../dsl/primitives/params";
import { PRIMITIVES } from "../../dsl/primitives/registry";

export class ProgramRewriter {
  readonly eqns: Eqn[] = [];
  readonly consts: Map<Var, NDArray>;
  private readonly subst = new Map<Var, Var>();
  private nextId: number;

  constructor(readonly source: Program) {
    this.consts = new Map(source.consts);
    let max = 0;
    const see = (v: Var) => (max = Math.max(max, v.id));
    source.inputs.forEach(see);
    source.consts.forEach((_, v) => see(v));
    source.eqns.forEach((e) => see(e.out));
    this.nextId = max + 1;
  }

  /** The variable now standing for `v`. */
  get(v: Var): Var {
    let cur = v;
    for (let next = this.subst.get(cur); next; next = this.subst.get(cur)) cur = next;
    return cur;
  }

  /** From now on, uses of `v` read `by`. */
  replace(v: Var, by: Var): void {
    if (v !== by) this.subst.set(v, by);
  }

  fresh(aval: Aval): Var {
    return new Var(this.nextId++, aval.shape, aval.dtype);
  }

  /** Appends `prim(inputs; params)` with its shape rule, returning the new variable. */
  bind<P extends Primitive>(prim: P, inputs: readonly Var[], params: PrimParams[P]): Var {
    const aval = PRIMITIVES[prim].abstractEval(inputs, params);
    const out = this.fresh(aval);
    this.eqns.push({ prim, inputs, params, out } as Eqn);
    return out;
  }

  /** Keeps an equation, with its inputs substituted. */
  keep(e: Eqn): void {
    const inputs = e.inputs.map((v) => this.get(v));
    this.eqns.push(inputs.every((v, i) => v === e.inputs[i]) ? e : ({ ...e, inputs } as Eqn));
  }

  constant(value: NDArray): Var {
    const v = this.fresh({ shape: value.shape, dtype: value.dtype });
    this.consts.set(v, value);
    return v;
  }

  finish(): Program {
    const s = this.source;
    return new Program(
      s.inputs,
      this.consts,
      this.eqns,
      s.outputs.map((v) => this.get(v)),
      s.inTree,
      s.outTree,
    );
  }
}
