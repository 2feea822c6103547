/**
 * Grouped GEMMs (MoE experts): rows of x come in contiguous groups, group g
 * multiplied by w[g]. Forward: output row tiles never straddle groups; tile t
 * finds its group by walking the group sizes (the launch has ceil(M/tile) + G
 * row tiles, an upper bound on sum_g ceil(size_g/tile); spare tiles write
 * nothing, so an expert with no rows costs nothing). Weight gradient:
 * dw[g] = x_g^T dy_g, one tile of dw per thread, summing over the group's rows
 * (data-dependent loop bounds, so no barriers).
 *
 * A kernel computes the fusion group's GEMMs together (see `fuse`): siblings
 * reading the same A keep accumulators of their own (gate and up projections,
 * their weight gradients), two GEMMs read only by their sum accumulate into one
 * (dX of gate and up); the group's epilogue (SwiGLU, its backward, a gate-weight
 * multiply) is computed from the sums and only the group's roots are stored.
 * Operands computed in place (a token gather, a transposed weight) are read
 * through `contractionOperand`. On targets with contraction micro-kernels (wasm)
 * the kernel also carries a `Contraction` describing the same computation: the
 * gather fused into A's load, the sibling or summed product, and the epilogue
 * as statements (`fused_contraction.ts`), with every B packed in panels.
 *
 * Group sizes are data: a one-thread kernel checks them (non-negative, summing
 * to M) like the interpreter, once per group-size array, when checks are on;
 * the GEMMs clamp their row ranges into [0, M), so bad sizes never read or
 * write out of bounds either way.
 */
import type { Eqn, Var } from "../../../dsl/program";
import { c, cast, type Contraction, type Expr, type ScalarType } from "../../kernel_ir";
import type { FusionGroup } from "../../passes/fusion";
import { scalarType } from "../../types";
import { dimAdd, dimEq, type Dim } from "../../../dsl/dims";
import { GROUP_SIZE_ERRORS } from "../../../dsl/primitives/linalg";
import { ceilDivSize, dimExpr, iadd, iceilDiv, idiv, imax, imin, imul, irem, linearize, mulSizes } from "../index_math";
import { lt, ne } from "../ir_ops";
import { gridFor, groupId, perItem } from "../kernels/common";
import { gatheredRows, tileEpilogue } from "../kernels/fused_contraction";
import {
  bufferParam,
  contractionNeedsPlainOperands,
  contractionOperand,
  groupedTileOrder,
  panelOperand,
  registerTile,
  sharedTile,
  type ContractionOperand,
  type TileSpec,
} from "../kernels/contraction";
import type { Lowering } from "../lower";
import type { KernelHandle, OpContext } from "../op_context";

/**
 * A run-time check of group sizes `gs` for `rows` rows (one per array and row
 * count). Reported as raggedMatmul's error for the weight gradient too: the
 * interpreter checks the forward op first, and that is the op the user called.
 */
function checkGroupSizes(ctx: OpContext, e: Eqn, gs: Var, rows: Dim): void {
  if (!ctx.checks) return;
  // Counts of `rows` keys that are all in range (value_facts) are valid group sizes by construction.
  const counted = ctx.facts.counts(gs);
  if (counted && dimEq(counted.total, rows)) return;
  ctx.once(`groupSizes:${gs.id}:${JSON.stringify(rows)}`, () => {
    const k = ctx.kernel("check_group_sizes", 1);
    const { kb, values } = k;
    const total = kb.mutable(c(0), "total", "i32");
    kb.for(
      c(0),
      dimExpr(gs.shape[0]!),
      (g) => {
        const n = kb.let(values.at(gs, [g]), "n");
        ctx.check(kb, GROUP_SIZE_ERRORS.negative("raggedMatmul", "{index}", "{size}"), lt(n, c(0)), g, n);
        kb.assign(total, iadd(total, n));
      },
      "g",
    );
    const message = GROUP_SIZE_ERRORS.sum("raggedMatmul", "{index}", "{size}");
    ctx.check(kb, message, ne(total, dimExpr(rows)), total, dimExpr(rows));
    ctx.launch(k, 1, `checks the group sizes of ${ctx.describe(e)}`);
  });
}

const clampRow = (r: Expr, M: Dim): Expr => imin(imax(r, c(0)), dimExpr(M));

/**
 * How a group's GEMMs are summed: `parallel` ones share A and keep a sum each;
 * a `summed` pair accumulates into one sum, the value of `into` (their `add`).
 */
type GroupTerms =
  | { readonly kind: "parallel"; readonly mains: readonly Eqn[] }
  | { readonly kind: "summed"; readonly mains: readonly [Eqn, Eqn]; readonly into: Var };

function groupTerms(ctx: Lowering, g: FusionGroup): GroupTerms {
  const mains = g.mains;
  if (mains.every((m) => m.inputs[0] === mains[0]!.inputs[0])) return { kind: "parallel", mains };
  const outs = mains.map((m) => m.out);
  const sum = [...g.members].map((v) => ctx.producer(v)!).find((e) => e.prim === "add" && outs.includes(e.inputs[0]!));
  if (mains.length !== 2 || !sum || !outs.every((o) => sum.inputs.includes(o)))
    throw new Error(`internal: group ${g.id}'s GEMMs neither share A nor are one sum`);
  return { kind: "summed", mains: [mains[0]!, mains[1]!], into: sum.out };
}

/** Operand readers of a kernel, one per variable (a shared A is read, or materialised, once). */
function operandReader(ctx: OpContext, k: KernelHandle): (v: Var) => ContractionOperand {
  const seen = new Map<Var, ContractionOperand>();
  return (v) => {
    if (!seen.has(v)) seen.set(v, contractionOperand(ctx, k, v));
    return seen.get(v)!;
  };
}

/**
 * The tile's store: the sums become the GEMMs' values (held in registers), then every root
 * of the group (a GEMM's result, or its epilogue's) is computed from them and stored at `idx`.
 */
function storeRoots(
  ctx: Lowering,
  k: KernelHandle,
  g: FusionGroup,
  terms: GroupTerms,
  accType: ReturnType<typeof scalarType>,
  idx: (row: Expr, col: Expr) => Expr[],
): TileSpec["store"] {
  const { kb, values } = k;
  const held = terms.kind === "parallel" ? terms.mains.map((m) => m.out) : [terms.into];
  return (row, col, acc, siblings) => {
    [acc, ...siblings].forEach((sum, j) => {
      const v = held[j]!;
      const t = scalarType(v.dtype);
      values.scalars.set(v, kb.let(accType === t ? sum : cast(sum, t), "y", t));
    });
    const at = idx(row, col);
    const shape = g.mains[0]!.out.shape;
    const flat = kb.let(linearize(at, shape), "f");
    for (const r of g.roots) kb.store(ctx.output(k, r), flat, values.at(r, at));
  };
}

/** The kernel of a fusion group of grouped GEMMs (raggedMatmul or its weight gradient) with its epilogue. */
export function lowerGroupedGemmGroup(ctx: Lowering, g: FusionGroup): void {
  if (g.mains[0]!.prim === "raggedMatmul") lowerRaggedMatmulGroup(ctx, g);
  else lowerWeightGradGroup(ctx, g);
}

function lowerRaggedMatmulGroup(ctx: Lowering, g: FusionGroup): void {
  const e = g.mains[0] as Eqn<"raggedMatmul">;
  const [x, w, gs] = e.inputs as [Var, Var, Var];
  const [M, K] = x.shape as [Dim, Dim];
  const [G, , N] = w.shape as [Dim, Dim, Dim];
  checkGroupSizes(ctx, e, gs, M);
  const terms = groupTerms(ctx, g);
  const s = ctx.schedule.matmul();
  const outType = scalarType(e.out.dtype);
  const accType = ctx.schedule.accumulator(outType);
  const rowTiles = dimAdd(ceilDivSize(M, s.tileM), G);
  const tiles = mulSizes(rowTiles, ceilDivSize(N, s.tileN));
  const k = ctx.kernel("ragged_matmul", s.workgroupSize);
  const { kb, values } = k;
  const { operand, opA, opB, contraction } = groupOperands(ctx, k, g, terms, s, x, w, gs);
  const tilesN = iceilDiv(dimExpr(N), c(s.tileN));
  const tileCount = imul(iadd(iceilDiv(dimExpr(M), c(s.tileM)), dimExpr(G)), tilesN);
  const tile = s.shared ? groupId(kb) : perItem(kb, tileCount);
  const { tm, tn } = groupedTileOrder(kb, tile, iadd(iceilDiv(dimExpr(M), c(s.tileM)), dimExpr(G)), tilesN);
  // Walk the groups to find this row tile's group and rows.
  const rest = kb.mutable(tm, "rest", "i32");
  const group = kb.mutable(c(-1), "g", "i32");
  const rowStart = kb.mutable(c(0), "rowStart", "i32");
  const rowEnd = kb.mutable(c(0), "rowEnd", "i32");
  const offset = kb.mutable(c(0), "offset", "i32");
  kb.for(
    c(0),
    dimExpr(G),
    (gi) => {
      const size = kb.let(values.at(gs, [gi]), "size");
      const count = kb.let(iceilDiv(size, c(s.tileM)), "count");
      kb.if(lt(group, c(0)), () =>
        kb.if(
          lt(rest, count),
          () => {
            kb.assign(group, gi);
            kb.assign(rowStart, clampRow(iadd(offset, imul(rest, c(s.tileM))), M));
            kb.assign(rowEnd, clampRow(iadd(offset, size), M));
          },
          () => kb.assign(rest, { kind: "binary", op: "sub", lhs: rest, rhs: count, type: "i32" }),
        ),
      );
      kb.assign(offset, iadd(offset, size));
    },
    "gi",
  );
  if (!s.shared) kb.if(lt(group, c(0)), () => kb.ret());
  const grp: Expr = kb.let({ kind: "binary", op: "max", lhs: group, rhs: c(0), type: "i32" }, "grp");
  const weight = (m: Eqn) => (kk: Expr, col: Expr) => operand(m.inputs[1]!).at([grp, kk, col]);
  const spec: TileSpec = {
    rowStart,
    rowEnd,
    colStart: kb.let(imul(tn, c(s.tileN)), "colStart"),
    colEnd: dimExpr(N),
    kStart: c(0),
    kEnd: dimExpr(K),
    accType,
    loadA: (row, kk) => opA.at([row, kk]),
    loadB: (kk, col) => opB.at([grp, kk, col]),
    ...laterTerms(terms, weight, (m) => ({
      loadA: (row, kk) => operand(m.inputs[0]!).at([row, kk]),
      kStart: c(0),
      kEnd: dimExpr(m.inputs[0]!.shape[1]!),
    })),
    store: storeRoots(ctx, k, g, terms, accType, (row, col) => [row, col]),
  };
  if (s.shared) sharedTile(kb, s, spec);
  else registerTile(kb, s, spec, rowStart, spec.colStart);
  const parts = contraction(spec.store, accType, () => ctx.output(k, e.out));
  setContraction(k, s, parts, { kind: "grouped", rows: M, cols: N, depth: K, groups: G });
  ctx.launch(k, s.shared ? tiles : gridFor(tiles, s.workgroupSize), ctx.describeGroup(g));
}

type LaterTerm = NonNullable<TileSpec["then"]>[number];

/**
 * The tile's terms after the first GEMM: `parallel` siblings share its A and keep sums of
 * their own (B from `loadB`); a `summed` pair's second GEMM is a pass into the first's sum.
 */
function laterTerms(
  terms: GroupTerms,
  loadB: (m: Eqn) => LaterTerm["loadB"],
  pass: (m: Eqn) => Omit<LaterTerm, "loadB">,
): Pick<TileSpec, "siblingB" | "then"> {
  if (terms.kind === "parallel") return { siblingB: terms.mains.slice(1).map(loadB) };
  const second = terms.mains[1];
  return { then: [{ ...pass(second), loadB: loadB(second) }] };
}

/**
 * The operands of a group's kernel `k` (A = `x`, the first B = `b`, group sizes `gs`) and, on a
 * micro-kernel target, what its Contraction reads: the gather fused into A's load where it can be
 * (else A from a buffer, materialised when computed), every B packed in panels. `contraction`
 * gives the Contraction's operand fields, or null when the kernel cannot be one.
 */
function groupOperands(
  ctx: Lowering,
  k: KernelHandle,
  g: FusionGroup,
  terms: GroupTerms,
  s: { readonly workgroupSize: number; readonly tileN: number },
  x: Var,
  b: Var,
  gs: Var,
) {
  const { values } = k;
  const operand = operandReader(ctx, k);
  const second = terms.kind === "summed" ? terms.mains[1] : undefined;
  const sibling = terms.kind === "parallel" ? terms.mains[1] : undefined;
  const gsBuf = bufferParam(values, gs);
  const micro = microContraction(ctx, s, g, terms) && gsBuf !== null;
  const gathered = micro && !second ? gatheredRows(ctx, k, x) : null;
  const opA: ContractionOperand = gathered ? { buffer: null, at: (idx) => values.at(x, idx) } : operand(x);
  const panels = (v: Var) => (micro && (gathered || opA.buffer) ? panelOperand(ctx, k, v, s.tileN) : null);
  const panelsB = panels(b);
  const opB: ContractionOperand = panelsB ? { buffer: panelsB, at: (idx) => values.at(b, idx) } : operand(b);
  const aPlus = second ? operand(second.inputs[0]!).buffer : null;
  const panels2 = sibling || second ? panels((sibling ?? second)!.inputs[1]!) : null;
  const contraction = (
    store: TileSpec["store"],
    accType: ScalarType,
    out: () => string,
    group?: Expr,
  ): ContractionParts | null => {
    const a = gathered?.source ?? opA.buffer;
    const plain = plainGemm(g);
    // A fused contraction streams every B from panels; a plain one may read B row-major.
    const complete =
      plain && !gathered ? opB.buffer : panelsB && (!(sibling || second) || panels2) && (!second || aPlus);
    if (!micro || !a || !opB.buffer || !gsBuf || !complete) return null;
    return {
      a,
      b: opB.buffer,
      groupSizes: gsBuf,
      bLayout: panelsB ? ("panels" as const) : ("rowMajor" as const),
      ...(plain ? { out: out() } : {}),
      ...(gathered ? { aIndex: { buffer: gathered.index, rows: gathered.rows } } : {}),
      ...(sibling ? { sibling: { b: panels2! } } : {}),
      ...(second ? { plus: { a: aPlus!, b: panels2! } } : {}),
      ...(plain ? {} : { epilogue: tileEpilogue(k.kb, store, sibling ? 2 : 1, accType, group) }),
    };
  };
  return { operand, opA, opB, contraction };
}

/**
 * Whether the group's kernel can be a target's contraction micro-kernel (wasm:
 * thread-per-tile schedules): one GEMM, two sharing A (gate and up), or two
 * summed over the same depth, with any epilogue.
 */
function microContraction(
  ctx: Lowering,
  s: { readonly workgroupSize: number },
  g: FusionGroup,
  terms: GroupTerms,
): boolean {
  if (!contractionNeedsPlainOperands(ctx.target, ctx.schedule) || g.mains.length > 2) return false;
  // A micro-kernel's tile is one serial thread's; tensor-core tiles run on the schedule's workgroups.
  if (s.workgroupSize !== 1 && !ctx.schedule.tensorCores) return false;
  if (terms.kind === "parallel") return true;
  const [first, second] = terms.mains;
  const depth = (m: Eqn) => m.inputs[0]!.shape[m.prim === "raggedMatmul" ? 1 : 0]!;
  return dimEq(depth(first), depth(second));
}

/** A Contraction's operand fields (what `groupOperands` finds), without its shape and tile. */
type ContractionParts = Omit<Contraction, "kind" | "rows" | "cols" | "depth" | "groups" | "tileRows" | "tileCols">;

/** Marks kernel `k` as the Contraction it computes (what a micro-kernel target renders instead), when it can be one. */
function setContraction(
  k: KernelHandle,
  s: { readonly tileM: number; readonly tileN: number },
  parts: ContractionParts | null,
  shape: Pick<Contraction, "kind" | "rows" | "cols" | "depth" | "groups">,
): void {
  if (parts) k.kb.contraction = { ...shape, ...parts, tileRows: s.tileM, tileCols: s.tileN };
}

/** One GEMM writing only its own result: what a target's contraction micro-kernel computes. */
function plainGemm(g: FusionGroup): boolean {
  return g.mains.length === 1 && g.roots.length === 1 && g.roots[0] === g.mains[0]!.out;
}

function lowerWeightGradGroup(ctx: Lowering, g: FusionGroup): void {
  const e = g.mains[0] as Eqn<"raggedMatmulWeightGrad">;
  const [x, dy, gs] = e.inputs as [Var, Var, Var];
  const M = x.shape[0]!;
  checkGroupSizes(ctx, e, gs, M);
  const K = x.shape[1]!;
  const N = dy.shape[1]!;
  const G = gs.shape[0]!;
  const terms = groupTerms(ctx, g);
  const base = ctx.schedule.matmul();
  const tc = ctx.schedule.tensorCores;
  // Register tiles only: the contraction length is data dependent (no barriers around it). Under tensor cores
  // the body keeps them, on the tensor-core tile's workgroup size (its Contraction's renderer strides over its tiles).
  const s = {
    ...base,
    shared: false,
    tileM: base.microM,
    tileN: base.microN,
    workgroupSize: base.shared && !tc ? ctx.schedule.knobs.elementwiseWorkgroup : base.workgroupSize,
  };
  const recordTile = tc ? base : s;
  const outType = scalarType(e.out.dtype);
  const accType = ctx.schedule.accumulator(outType);
  const tiles = mulSizes(G, ceilDivSize(K, s.tileM), ceilDivSize(N, s.tileN));
  const k = ctx.kernel("ragged_matmul_wgrad", s.workgroupSize);
  const { kb, values } = k;
  const { operand, opA, opB, contraction } = groupOperands(
    ctx,
    k,
    g,
    terms,
    { ...s, tileN: recordTile.tileN },
    x,
    dy,
    gs,
  );
  const tilesN = iceilDiv(dimExpr(N), c(s.tileN));
  const tilesK = iceilDiv(dimExpr(K), c(s.tileM));
  const tile = perItem(kb, imul(imul(dimExpr(G), tilesK), tilesN));
  const perGroup = kb.let(imul(tilesK, tilesN), "perGroup");
  const grp = kb.let(idiv(tile, perGroup), "g");
  const { tm: tk, tn } = groupedTileOrder(kb, irem(tile, perGroup), tilesK, tilesN);
  const offset = kb.mutable(c(0), "offset", "i32");
  kb.for(c(0), grp, (q) => kb.assign(offset, iadd(offset, values.at(gs, [q]))), "q");
  const start = kb.let(clampRow(offset, M), "start");
  const end = kb.let(clampRow(iadd(offset, values.at(gs, [grp])), M), "end");
  const gradOf = (m: Eqn) => (r: Expr, col: Expr) => operand(m.inputs[1]!).at([r, col]);
  const spec: TileSpec = {
    rowStart: kb.let(imul(tk, c(s.tileM)), "rowStart"),
    rowEnd: dimExpr(K),
    colStart: kb.let(imul(tn, c(s.tileN)), "colStart"),
    colEnd: dimExpr(N),
    kStart: start,
    kEnd: end,
    accType,
    loadA: (row, r) => opA.at([r, row]),
    loadB: (r, col) => opB.at([r, col]),
    ...laterTerms(terms, gradOf, (m) => ({
      loadA: (row, r) => operand(m.inputs[0]!).at([r, row]),
      kStart: start,
      kEnd: end,
    })),
    store: storeRoots(ctx, k, g, terms, accType, (row, col) => [grp, row, col]),
  };
  registerTile(kb, s, spec, spec.rowStart, spec.colStart);
  const parts = contraction(spec.store, accType, () => ctx.output(k, e.out), grp);
  setContraction(k, recordTile, parts, { kind: "groupedWeightGrad", rows: M, cols: N, depth: K, groups: G });
  ctx.launch(k, gridFor(tiles, s.workgroupSize), ctx.describeGroup(g));
}
