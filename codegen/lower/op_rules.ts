/**
 * Lowering rules of primitives with kernels of their own: scans, sorts,
 * scatters and counts.
 */
import type { Primitive } from "../../dsl/primitives/params";
import { lowerCumsum } from "./ops/scan";
import { lowerBincount, lowerScatterAdd, lowerScatterAddAlong } from "./ops/scatter";
import { lowerArgsort, lowerTopKIndices } from "./ops/sort";
import type { LoweringRule } from "./rule";

export const opRules = {
  cumsum: { kind: "op", lower: lowerCumsum, inlineOperands: [0] },
  scatterAdd: { kind: "op", lower: lowerScatterAdd, inlineOperands: [0, 2] },
  scatterAddAlong: { kind: "op", lower: lowerScatterAddAlong, inlineOperands: [0, 2] },
  topKIndices: { kind: "op", lower: lowerTopKIndices },
  argsort: { kind: "op", lower: lowerArgsort },
  bincount: { kind: "op", lower: lowerBincount },
} satisfies { [P in Primitive]?: LoweringRule<P> };
