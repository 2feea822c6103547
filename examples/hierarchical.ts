/**
 * A hierarchical mixture of experts (Jordan & Jacobs 1994), two levels: a
 * root gate over 2 groups, each a gate over 2 linear experts. The model is
 * `moe.hierarchicalMoe` (any depth); this file fixes the tree's shape so the
 * CLI can trace it.
 *
 *   moeforge compile examples/hierarchical.ts --export hme --dims T=dynamic,D=8,O=4 --target wgsl,cuda --grad --out out/hme
 */
import { moe, type Tensor } from "moeforge";

const gate = (branches: number) => ({ w: ["D", branches], b: [branches] });
const expert = { w: ["D", "O"], b: ["O"] };

export const hmeInputs = {
  tree: {
    gate: gate(2),
    children: [
      { gate: gate(2), children: [expert, expert] },
      { gate: gate(2), children: [expert, expert] },
    ],
  },
  x: ["T", "D"],
};

/** x [T, D] -> the mixture's mean prediction [T, O]. */
export function hme(tree: moe.HmeNode, x: Tensor): Tensor {
  return moe.hierarchicalMoe(tree, x);
}
