/**
 * Dead-code elimination: drops equations and constants no output depends on.
 * Inputs stay (the program's signature does not change).
 */
import { Program, type Var } from "../../dsl/program";

/**
 * @example dce(trace((x) => { x.exp(); return x.neg(); }, spec([3]))) // the exp is gone
 */
export function dce(program: Program): Program {
  const live = new Set<Var>(program.outputs);
  const kept = [];
  for (let k = program.eqns.length - 1; k >= 0; k--) {
    const e = program.eqns[k]!;
    if (!live.has(e.out)) continue;
    kept.push(e);
    e.inputs.forEach((v) => live.add(v));
  }
  kept.reverse();
  const consts = new Map([...program.consts].filter(([v]) => live.has(v)));
  if (kept.length === program.eqns.length && consts.size === program.consts.size) return program;
  return new Program(program.inputs, consts, kept, program.outputs, program.inTree, program.outTree);
}
