/**
 * Renumbers a Program's variables 0, 1, 2, ... in order of appearance
 * (inputs, constants, equations). Variable ids come from a process-wide
 * counter, so tracing the same model twice gives different ids; kernels name
 * their buffers and locals after them. Exports compile the renumbered
 * program, so the same model always gives the same bytes.
 */
import { Program, type Eqn, Var } from "../dsl/program";

/** `p` with variables numbered from 0 (same structure, same meaning). */
export function canonicalVars(p: Program): Program {
  const map = new Map<Var, Var>();
  const of = (v: Var): Var => {
    let w = map.get(v);
    if (!w) {
      w = new Var(map.size, v.shape, v.dtype);
      map.set(v, w);
    }
    return w;
  };
  const inputs = p.inputs.map(of);
  const consts = new Map([...p.consts].map(([v, a]) => [of(v), a]));
  const eqns = p.eqns.map((e): Eqn => ({ ...e, inputs: e.inputs.map(of), out: of(e.out) }));
  return new Program(inputs, consts, eqns, p.outputs.map(of), p.inTree, p.outTree);
}
