/**
 * Gradient cases of the linear-algebra primitives: matmul (batched, leading
 * dims broadcasting, vector operands), raggedMatmul (with empty groups),
 * raggedMatmulWeightGrad (bound directly: it has no public op) and einsum.
 */
import fc from "fast-check";
import { einsum, matmul, raggedMatmul, type Tensor } from "../../../index";
import { broadcastShapesArb, groupSizesArb, i32, prim, tensorArb, type GradCase, type GradSample } from "../helpers";

const dim = (min = 1, max = 3) => fc.integer({ min, max });

/** Groups and rows with empty groups likely: G in [1,4], M in [0,6]. */
const raggedDims = fc
  .record({ G: dim(1, 4), M: dim(0, 6), K: dim(1, 3), N: dim(1, 3) })
  .chain((d) => groupSizesArb(d.G, d.M).map((sizes) => ({ ...d, sizes })));

/** einsum specs of the common kinds: matrix product, batched, MoE expert projection, transpose, reductions, outer. */
const EINSUM_SPECS = [
  "ij,jk->ik",
  "bij,bjk->bik",
  "td,edh->teh",
  "ij->ji",
  "ij->",
  "i,i->",
  "ij,j->i",
  "i,j->ij",
  "bij->bj",
  "ij,ij->i",
] as const;

function einsumSample(spec: string): fc.Arbitrary<GradSample> {
  const labels = [...new Set(spec.replace(/[^a-z]/g, ""))];
  return fc.tuple(...labels.map(() => dim(1, 3))).chain((sizes) => {
    const size = new Map(labels.map((l, i) => [l, sizes[i]!]));
    const inputs = spec.split("->")[0]!.split(",");
    return fc
      .tuple(...inputs.map((s) => tensorArb([...s].map((c) => size.get(c)!))))
      .map((args): GradSample => ({ f: (...ts) => einsum(spec, ...ts), args }));
  });
}

export const linalgCases: readonly GradCase[] = [
  {
    name: "matmul (batched, broadcasting batch dims)",
    runs: { vjp: 100, dual: 60, second: 24 },
    sample: fc
      .tuple(broadcastShapesArb(2, 2), dim(), dim(), dim())
      .chain(([[ba, bb], M, K, N]) => fc.tuple(tensorArb([...ba!, M, K]), tensorArb([...bb!, K, N])))
      .map(([a, b]): GradSample => ({ f: matmul, args: [a, b] })),
  },
  {
    name: "matmul (vector operands)",
    runs: { vjp: 60, dual: 45, second: 0 },
    sample: fc
      .tuple(dim(), dim(), fc.constantFrom("vec@mat", "mat@vec", "vec@vec"))
      .chain(([K, N, kind]) =>
        kind === "vec@mat"
          ? fc.tuple(tensorArb([K]), tensorArb([K, N]))
          : kind === "mat@vec"
            ? fc.tuple(tensorArb([N, K]), tensorArb([K]))
            : fc.tuple(tensorArb([K]), tensorArb([K])),
      )
      .map(([a, b]): GradSample => ({ f: matmul, args: [a, b] })),
  },
  {
    name: "raggedMatmul (empty groups)",
    runs: { vjp: 100, dual: 60, second: 15 },
    sample: raggedDims.chain(({ G, M, K, N, sizes }) =>
      fc.tuple(tensorArb([M, K]), tensorArb([G, K, N])).map(([x, w]): GradSample => {
        const gs = i32(sizes, [G]);
        return { f: (a: Tensor, b: Tensor) => raggedMatmul(a, b, gs), args: [x, w] };
      }),
    ),
  },
  {
    name: "raggedMatmulWeightGrad (empty groups; primitive bound directly)",
    runs: { vjp: 80, dual: 60, second: 15 },
    sample: raggedDims.chain(({ G, M, K, N, sizes }) =>
      fc.tuple(tensorArb([M, K]), tensorArb([M, N])).map(([x, dy]): GradSample => {
        const gs = i32(sizes, [G]);
        return { f: (a: Tensor, b: Tensor) => prim("raggedMatmulWeightGrad", [a, b, gs], {}), args: [x, dy] };
      }),
    ),
  },
  {
    name: `einsum (${EINSUM_SPECS.join(" ")})`,
    runs: { vjp: 120, dual: 60, second: 15 },
    sample: fc.constantFrom(...EINSUM_SPECS).chain(einsumSample),
  },
];
