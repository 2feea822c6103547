/**
 * The lowering table: one rule per primitive (a mapped type over `Primitive`,
 * so adding a primitive without a lowering does not compile). See `rule.ts`
 * for the kinds of rules.
 */
import { exprRules } from "./expr_rules";
import { opRules } from "./op_rules";
import type { LoweringTable } from "./rule";

export const LOWERINGS: LoweringTable = {
  ...exprRules,
  ...opRules,
  reduceSum: { kind: "reduce" },
  reduceMax: { kind: "reduce" },
  reduceMin: { kind: "reduce" },
  argmax: { kind: "reduce" },
  argmin: { kind: "reduce" },
  matmul: { kind: "matmul" },
  raggedMatmul: { kind: "matmul", grouped: true },
  raggedMatmulWeightGrad: { kind: "matmul", grouped: true },
  customVjpCall: { kind: "inline" },
};
