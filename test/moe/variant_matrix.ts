/**
 * Issue #17's coverage matrix: every covered MoE variant, built with the
 * library's `moeLayer` (top-k with k = 1, 2, 4, renormalised or not; a
 * capacity factor with dropping; dropless; shared experts; SwiGLU and FFN
 * experts; expert choice), crossed with routing cases (T = 1; skewed, one
 * expert taking > 90% of the tokens; empty experts; token counts that are a
 * multiple of no tile), and the lowering path each variant takes today (the
 * fused MoE kernels, or the generic fallback where the fused lowering does not
 * reach yet). The backends' test files run the programs against the
 * interpreter; `routingCounts` shows that each case routes as it claims.
 */
import { vjpProgram } from "../../autodiff/vjp";
import type { KernelBundle, Target } from "../../codegen/kernel_ir";
import type { Program } from "../../dsl/program";
import { add, mul, random, spec, square, sum, tensor, trace, tree, type Tensor } from "../../index";
import { ffnExperts, moeLayer, swigluExperts, type MoeLayerConfig } from "../../moe/index";
import { mulberry32, randomFloats, runAndCompare, type ProgramRunner } from "../../testing/random_programs";

/** How a case steers the router: not at all, all tokens to expert 0, or never to the last experts. */
export type Routing = "random" | "skewed" | "empty";

/**
 * Kernel names (without the `k<n>_` prefix; each a regular expression matching whole names, since
 * targets name some kernels differently) that a bundle must and must not contain.
 */
export interface KernelSet {
  readonly present: readonly string[];
  readonly absent: readonly string[];
}

/** The lowering path of a variant's forward and gradient bundles. */
export interface ExpectedPath {
  readonly forward: KernelSet;
  readonly gradient: KernelSet;
  /**
   * The router's logits and softmax (and top-k, for a token-choice gate) are one thread-per-token row
   * kernel: in both bundles, or as given for each.
   */
  readonly routerRowKernel: boolean | { readonly forward: boolean; readonly gradient: boolean };
}

export interface Variant {
  readonly name: string;
  readonly config: MoeLayerConfig;
  /** Model width and expert hidden width. */
  readonly D: number;
  readonly H: number;
  /** The path at T tokens on a target. */
  readonly path: (T: number, target: Target) => ExpectedPath;
}

/** One row of the matrix: a variant at T tokens with a routing. */
export interface MatrixCase {
  readonly variant: Variant;
  readonly T: number;
  readonly routing: Routing;
  readonly seed: number;
}

/**
 * A generic scatterAdd: the GPU targets' stable sort by target index and segment sums
 * (scatter_order, scatter_starts, scatter_sum), the cpu targets' one scatter_add kernel.
 */
const SCATTER = "scatter_(order|starts|sum|add)";

/** The generic kernels the fused routing replaces: argsort, bincount, scatterAdd, the group-size check. */
const GENERIC = ["argsort", "bincount", SCATTER, "check_group_sizes"] as const;

/** The fused path: the counting-sort dispatch, grouped GEMMs, the gather-sum combine, nothing generic. */
const FUSED: KernelSet = { present: ["dispatch_sort", "ragged_matmul", "combine"], absent: GENERIC };

/** The same kernel set for the forward and the gradient, at every T. */
const everywhere = (set: KernelSet, routerRowKernel: boolean) => (): ExpectedPath => ({
  forward: set,
  gradient: set,
  routerRowKernel,
});

const topK = (k: number, renormalize?: boolean) =>
  ({ type: "topK", k, ...(renormalize === undefined ? {} : { renormalize }) }) as const;

/**
 * The variants. Router row kernel (passes/router_fusion.ts): the logits GEMM, the softmax and the topK
 * per token in one kernel. Not renormalised: `topK(softmax(logits))`; renormalised (k >= 2): the topK of
 * the logits runs in the kernel's prologue and the softmax over the k kept logits reads it. Renormalised
 * top-1 has no softmax left (its weight is 1): in the gradient its elementwise [T, 1] weight kernel becomes
 * the row kernel that takes the logits GEMM and the topK; in the forward the weight is computed inside the
 * dispatch's kernels, so the logits GEMM and the topK stay kernels of their own.
 */
export const VARIANTS: readonly Variant[] = [
  {
    name: "top-1 SwiGLU, renormalised, dropless",
    config: { numExperts: 4, gate: topK(1), experts: swigluExperts },
    D: 8,
    H: 6,
    path: () => ({ forward: FUSED, gradient: FUSED, routerRowKernel: { forward: false, gradient: true } }),
  },
  {
    name: "top-2 SwiGLU, not renormalised, dropless, switch + z losses",
    config: {
      numExperts: 4,
      gate: topK(2, false),
      experts: swigluExperts,
      auxLossWeights: { switch: 0.01, zLoss: 0.001 },
    },
    D: 8,
    H: 6,
    path: everywhere(FUSED, true),
  },
  {
    name: "top-4 SwiGLU, renormalised, dropless",
    config: { numExperts: 6, gate: topK(4), experts: swigluExperts },
    D: 6,
    H: 5,
    path: everywhere(FUSED, true),
  },
  {
    // FFN biases: the bias gradient is scatterAdd(rows -> experts) through the sorted expert ids, a
    // segment sum over each expert's run of rows, bounds from the dispatch sort (lower/ops/segment_sum.ts).
    name: "top-4 FFN, not renormalised, dropless",
    config: { numExperts: 6, gate: topK(4, false), experts: ffnExperts },
    D: 6,
    H: 5,
    path: () => ({
      forward: FUSED,
      gradient: { present: [...FUSED.present, "segment_sum"], absent: GENERIC },
      routerRowKernel: true,
    }),
  },
  {
    // Switch Transformer routing. passes/capacity_dispatch.ts puts the capacity buffer on the dispatch
    // sort and gather-sum combines (and the FFN bias gradient with it: the buffer's groups are uniform).
    // In the wasm forward at T = 1, fusion puts the top-1 weight's gather(probs, experts) into the
    // softmax's reduce group, which then reads the topK's output, so the plan runs the topK of the
    // logits first: passes/router_fusion.ts moves it into the row kernel's prologue (after the logits).
    name: "top-1 FFN, not renormalised, capacity factor 1.25 (dropping)",
    config: { numExperts: 4, gate: topK(1, false), experts: ffnExperts, capacityFactor: 1.25 },
    D: 8,
    H: 6,
    path: everywhere(FUSED, true),
  },
  {
    name: "top-2 FFN, renormalised, capacity factor 1.25 (dropping)",
    config: { numExperts: 4, gate: topK(2), experts: ffnExperts, capacityFactor: 1.25 },
    D: 8,
    H: 6,
    path: everywhere(FUSED, true),
  },
  {
    name: "top-2 SwiGLU + 1 shared SwiGLU expert, renormalised, dropless",
    config: {
      numExperts: 4,
      gate: topK(2),
      experts: swigluExperts,
      shared: { count: 1, experts: swigluExperts },
    },
    D: 8,
    H: 6,
    path: everywhere(FUSED, true),
  },
  {
    // Expert choice: each expert's top-c tokens are a topK along the token axis, the groups uniform;
    // the combine, its dX and the topK's backward scatter through the picks, which are distinct per
    // expert: gathers through their slot table (lower/ops/slot_table.ts), no generic scatter.
    name: "expert choice FFN, capacity factor 2",
    config: { numExperts: 4, gate: { type: "expertChoice", capacityFactor: 2 }, experts: ffnExperts },
    D: 8,
    H: 6,
    path: everywhere(
      {
        present: ["topKIndices", "ragged_matmul", "slot_table", "combine"],
        absent: ["dispatch_sort", "check_group_sizes", SCATTER, "scatter_add_along"],
      },
      true,
    ),
  },
];

/** Token counts with their routing: T = 1, and counts that are a multiple of no tile (odd, not 2^n). */
export const CASES: readonly { readonly T: number; readonly routing: Routing }[] = [
  { T: 1, routing: "random" },
  { T: 33, routing: "skewed" },
  { T: 67, routing: "empty" },
];

/**
 * T·k·D > 2^24: the gathered rows [T·k, D] hold more elements than an f32 counts exactly and than
 * one grid dimension launches; a wide D and tiny H and E keep the work small (T = 32769 tokens).
 */
export const BIG_CASES: readonly MatrixCase[] = [
  {
    variant: {
      name: "top-2 SwiGLU, renormalised, dropless, D = 256, H = 2",
      config: { numExperts: 4, gate: topK(2), experts: swigluExperts },
      D: 256,
      H: 2,
      path: everywhere(FUSED, true),
    },
    T: 2 ** 24 / (2 * 256) + 1,
    routing: "random",
    seed: 77,
  },
];

/** Every variant with every case, each with its own seed (distinct random inputs). */
export function matrix(variants = VARIANTS, cases = CASES): MatrixCase[] {
  return variants.flatMap((variant, i) => cases.map((c, j) => ({ variant, ...c, seed: 1000 * i + 10 * j + c.T })));
}

/** The layer's parameters as a flat list (tree order) with the tree definition to rebuild them. */
function paramTree(v: Variant) {
  const layer = moeLayer(v.config);
  const values = layer.init(random.key(7), { dModel: v.D, hidden: v.H });
  const [leaves, def] = tree.flatten(values);
  return { layer, leaves: leaves as Tensor[], def };
}

/**
 * The forward program ([y, loss]) and the gradient of the loss with respect to x and every parameter,
 * traced at T tokens. The loss is sum(y²)/2 plus the configured auxiliary losses.
 */
export function variantPrograms(v: Variant, T: number): { forward: Program; gradient: Program } {
  const { layer, leaves, def } = paramTree(v);
  const specs = [spec([T, v.D]), ...leaves.map((p) => spec(p.shape as number[], p.dtype))];
  const apply = (x: Tensor, ps: Tensor[]) => {
    const { y, report } = layer.apply(tree.unflatten(def, ps) as Parameters<typeof layer.apply>[0], x);
    return [y, add(mul(sum(square(y)), 0.5), report.auxLoss)] as const;
  };
  const forward = trace((x: Tensor, ...ps: Tensor[]) => [...apply(x, ps)], ...specs);
  const loss = trace((x: Tensor, ...ps: Tensor[]) => apply(x, ps)[1], ...specs);
  return { forward, gradient: vjpProgram(loss) };
}

/**
 * Inputs at T tokens: x and every parameter random and non-zero (biases too), weights scaled by
 * 1/sqrt(fan-in). `skewed`: feature 0 of every token is 1 and the router's row 0 sends it to expert 0
 * with logit +20; `empty`: that row gives the experts from max(k, ceil(E/2)) on a logit of -20, so no
 * token picks them. `gradient` appends the loss cotangent.
 */
export function variantInputs(c: MatrixCase, gradient: boolean): Tensor[] {
  const { variant: v, T, routing } = c;
  const rng = mulberry32(c.seed);
  const { leaves, def } = paramTree(v);
  const E = v.config.numExperts;
  const x = randomFloats(rng, "f32", [T, v.D]);
  // Weights [E, in, out] and the router [D, E]: scaled by 1/sqrt(in); biases [E, out] by 1/sqrt(E).
  const params = leaves.map((p) =>
    randomFloats(rng, "f32", p.shape as number[], 1 / Math.sqrt(p.shape.at(-2) as number)),
  );
  if (routing !== "random") {
    const router = (tree.unflatten(def, params) as { router: { w: Tensor } }).router.w;
    const xd = x._value().data as Float32Array;
    for (let t = 0; t < T; t++) xd[t * v.D] = 1;
    const rd = router._value().data as Float32Array;
    const k = "k" in v.config.gate ? v.config.gate.k : 1;
    const firstEmpty = Math.max(k, Math.ceil(E / 2));
    for (let e = 0; e < E; e++) rd[e] = routing === "skewed" ? (e === 0 ? 20 : 0) : e >= firstEmpty ? -20 : 0;
  }
  const inputs = [x, ...params];
  return gradient ? [...inputs, tensor(0.5 + rng(), [])] : inputs;
}

/**
 * How a case routes, on the interpreter: the tokens each expert was assigned (token choice, before
 * capacity), the tokens whose best-scoring expert each is (expert choice, whose experts all take c
 * tokens), and the fraction of assignments dropped (expert choice: of tokens no expert picked).
 */
export function routingCounts(c: MatrixCase): { perExpert: number[]; dropFraction: number } {
  const { layer, def } = paramTree(c.variant);
  const [x, ...params] = variantInputs(c, false);
  const p = tree.unflatten(def, params) as Parameters<typeof layer.apply>[0];
  const { report } = layer.apply(p, x!);
  const dropFraction = report.dropFraction.dataSync()[0]!;
  if (c.variant.config.gate.type !== "expertChoice")
    return { perExpert: Array.from(report.expertCounts.dataSync()), dropFraction };
  const logits = x!.matmul((p.router as { w: Tensor }).w).dataSync();
  const E = c.variant.config.numExperts;
  const perExpert = new Array<number>(E).fill(0);
  for (let t = 0; t < c.T; t++) {
    const row = Array.from(logits.slice(t * E, (t + 1) * E));
    perExpert[row.indexOf(Math.max(...row))]!++;
  }
  return { perExpert, dropFraction };
}

/** Runs one case's programs (`variantPrograms`) on `run` against the interpreter; errors name the case. */
export async function expectCaseMatches(
  c: MatrixCase,
  { forward, gradient }: { forward: Program; gradient: Program },
  run: ProgramRunner,
  backend: string,
): Promise<void> {
  const context = `${c.variant.name}, T = ${c.T}, ${c.routing} routing, ${backend}`;
  await runAndCompare(run, forward, variantInputs(c, false)).catch((e: Error) => {
    throw new Error(`${context}, forward: ${e.message.split("\n")[0]}`);
  });
  await runAndCompare(run, gradient, variantInputs(c, true)).catch((e: Error) => {
    throw new Error(`${context}, gradient: ${e.message.split("\n")[0]}`);
  });
}

/** Kernel names without the `k<n>_` prefix. */
export const kernelNames = (b: KernelBundle): string[] => b.kernels.map((k) => k.name.replace(/^k\d+_/, ""));

/** Why a variant's bundles at T tokens do not take its expected path, or undefined when they do. */
export function pathMismatch(v: Variant, T: number, forward: KernelBundle, gradient: KernelBundle): string | undefined {
  const path = v.path(T, forward.target);
  for (const [what, b, set] of [
    ["forward", forward, path.forward],
    ["gradient", gradient, path.gradient],
  ] as const) {
    const names = kernelNames(b);
    const list = `${what} kernels: ${names.join(" ")}`;
    const has = (pattern: string) => names.some((n) => new RegExp(`^(${pattern})$`).test(n));
    for (const n of set.present) if (!has(n)) return `no ${n} kernel; ${list}`;
    for (const n of set.absent) if (has(n)) return `a ${n} kernel; ${list}`;
    // The router kernel's comment (lower/kernels/router.ts), in the kernel IR: wasm's source is binary.
    const router = b.kernels.some((k) => JSON.stringify(k.body).includes("this row's logits"));
    const want = typeof path.routerRowKernel === "boolean" ? path.routerRowKernel : path.routerRowKernel[what];
    if (router !== want)
      return `the router row kernel is ${router ? "" : "not "}there, expected ${want ? "" : "not "}; ${list}`;
  }
  return undefined;
}
