/**
 * Lowering rules of primitives with kernels of their own: scans, sorts,
 * scatters and counts.
 */
import type { Primitive } from "../../dsl/primitives/params";
import { lowerCumsum } from "./ops/scan";
import {
  isShortScatterAlong,
  lowerBincount,
  lowerScatterAdd,
  lowerScatterAddAlong,
  scatterAlongShortAxis,
} from "./ops/scatter";
import { lowerArgsort, lowerTopKIndices } from "./ops/sort";
import { elementwiseMap, opaqueMap, type IndexMapRule, type LoweringRule } from "./rule";

/** A scatter along an axis reads its operand at its own element, indices and updates along the axis. */
const scatterAlongMap: IndexMapRule<"scatterAddAlong"> = (eqn, pos, out) =>
  pos === 0 ? elementwiseMap(eqn, pos, out) : opaqueMap(eqn.inputs[pos]!.shape.length);

export const opRules = {
  cumsum: { kind: "op", lower: lowerCumsum, inlineOperands: [0] },
  scatterAdd: { kind: "op", lower: lowerScatterAdd, inlineOperands: [0, 2] },
  scatterAddAlong: {
    kind: "op",
    lower: lowerScatterAddAlong,
    inlineOperands: [0, 2],
    asExpr: { when: isShortScatterAlong, expr: scatterAlongShortAxis, indexMap: scatterAlongMap },
  },
  topKIndices: { kind: "op", lower: lowerTopKIndices },
  argsort: { kind: "op", lower: lowerArgsort },
  bincount: { kind: "op", lower: lowerBincount },
} satisfies { [P in Primitive]?: LoweringRule<P> };
