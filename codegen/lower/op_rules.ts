/**
 * Lowering rules of primitives with kernels of their own: scans, sorts,
 * scatters, counts and grouped GEMMs.
 */
import type { Primitive } from "../../dsl/primitives/params";
import type { LoweringRule } from "./rule";

const todo = (reason: string) => ({ kind: "unsupported", reason }) as const;

export const opRules = {
  cumsum: todo("not lowered yet"),
  raggedMatmul: todo("not lowered yet"),
  raggedMatmulWeightGrad: todo("not lowered yet"),
  scatterAdd: todo("not lowered yet"),
  scatterAddAlong: todo("not lowered yet"),
  topKIndices: todo("not lowered yet"),
  argsort: todo("not lowered yet"),
  bincount: todo("not lowered yet"),
} satisfies { [P in Primitive]?: LoweringRule<P> };
