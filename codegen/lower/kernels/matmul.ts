/**
 * Matmul kernels with fused operand loads (a transposed or broadcast operand is
 * read in place) and a fused elementwise epilogue (bias, activation, scaling):
 * the epilogue's outputs are computed from the accumulator, so `relu(x @ w + b)`
 * is one kernel.
 */
import type { Eqn, Var } from "../../../dsl/program";
import type { Dim, Shape } from "../../../dsl/shape";
import { c, cast, load, type Expr } from "../../kernel_ir";
import type { FusionGroup } from "../../passes/fusion";
import { scalarType } from "../../types";
import {
  ceilDivSize,
  delinearize,
  dimExpr,
  iceilDiv,
  idiv,
  imul,
  irem,
  linearize,
  mulSizes,
  numelExpr,
  numelSize,
} from "../index_math";
import type { Lowering } from "../lower";
import { gridFor, groupId, perItem } from "./common";
import {
  bufferParam,
  contractionOperand,
  groupedTileOrder,
  panelOperand,
  registerTile,
  sharedTile,
  type TileSpec,
} from "./contraction";
import { targetCapabilities } from "../../targets";

export function lowerMatmulGroup(ctx: Lowering, g: FusionGroup): void {
  const e = g.mains[0] as Eqn<"matmul">;
  const [a, b] = e.inputs as [typeof e.out, typeof e.out];
  const out = e.out;
  const rank = out.shape.length;
  const batchShape = out.shape.slice(0, rank - 2);
  const [M, N] = [out.shape[rank - 2]!, out.shape[rank - 1]!];
  const K = a.shape[rank - 1]!;
  const s = ctx.schedule.matmul({ N });
  const outType = scalarType(out.dtype);
  const accType = ctx.schedule.accumulator(outType);
  const tilesM = ceilDivSize(M, s.tileM);
  const tilesN = ceilDivSize(N, s.tileN);
  const tiles = mulSizes(numelSize(batchShape), tilesM, tilesN);

  const k = ctx.kernel("matmul", s.workgroupSize);
  const { kb, values } = k;
  // A 2-D product with A in a buffer is a Contraction (targets' own micro-kernels). On a micro-kernel
  // target an f32 one always is: A is materialised when computed in place, B packed in panels, and an
  // epilogue (bias, activation) runs as a kernel of its own over the product.
  // Tensor-core tiles (schedule.tensorCores) read the same plain operands, on the shared tile's launch.
  const tc = ctx.schedule.tensorCores;
  const micro = (targetCapabilities(ctx.target).contractionTile !== null && !s.shared) || tc;
  const simd = micro && rank === 2 && out.dtype === "f32" && a.dtype === "f32";
  const opA = simd
    ? contractionOperand(ctx, k, a)
    : { buffer: bufferParam(values, a), at: (idx: readonly Expr[]) => values.at(a, idx) };
  const epilogue = !(g.roots.length === 1 && g.roots[0] === out);
  const contracts = rank === 2 && opA.buffer !== null && (!epilogue || simd);
  const panelsB = contracts && (!s.shared || tc) ? panelOperand(ctx, k, b, s.tileN) : null;
  const product = contracts && epilogue ? ctx.temp("f32", mulSizes(M, N), "product") : null;
  const productParam = product ? ctx.bindTemp(k, product, "readWrite") : null;
  const tile = s.shared ? groupId(kb) : perItem(kb, mulTiles(batchShape, M, N, s.tileM, s.tileN));
  const tilesNExpr = kb.let(cdivExpr(dimExpr(N), s.tileN), "tilesN");
  const tilesMExpr = kb.let(cdivExpr(dimExpr(M), s.tileM), "tilesM");
  const perBatch = kb.let(imul(tilesMExpr, tilesNExpr), "perBatch");
  const bIdx = delinearize(idiv(tile, perBatch), batchShape).map((x) => kb.let(x, "bt"));
  const { tm, tn } = groupedTileOrder(kb, kb.let(irem(tile, perBatch), "t"), tilesMExpr, tilesNExpr);
  const spec: TileSpec = {
    rowStart: kb.let(imul(tm, c(s.tileM)), "rowStart"),
    rowEnd: dimExpr(M),
    colStart: kb.let(imul(tn, c(s.tileN)), "colStart"),
    colEnd: dimExpr(N),
    kStart: c(0),
    kEnd: dimExpr(K),
    accType,
    loadA: (row, kk) => opA.at([...bIdx, row, kk]),
    loadB: (kk, col) => values.at(b, [...bIdx, kk, col]),
    store: (row, col, acc) => {
      const y = kb.let(accType === outType ? acc : cast(acc, outType), "y", outType);
      const idx = [...bIdx, row, col];
      const flat = kb.let(linearize(idx, out.shape), "f");
      if (productParam) return kb.store(productParam, flat, y);
      values.scalars.set(out, y);
      for (const r of g.roots) kb.store(ctx.output(k, r), flat, values.at(r, idx));
    },
  };
  if (s.shared) sharedTile(kb, s, spec);
  else registerTile(kb, s, spec, spec.rowStart, spec.colStart);
  const bBuf = panelsB ?? bufferParam(values, b);
  // Serial register tiles only (one thread per tile): a GPU-shaped register tile is not a micro-kernel's tile.
  if (contracts && opA.buffer && bBuf && ((!s.shared && s.workgroupSize === 1) || (tc && panelsB)))
    kb.contraction = {
      kind: "dense",
      a: opA.buffer,
      b: bBuf,
      out: productParam ?? ctx.output(k, out),
      rows: M,
      cols: N,
      depth: K,
      tileRows: s.tileM,
      tileCols: s.tileN,
      bLayout: panelsB ? "panels" : "rowMajor",
    };
  ctx.launch(k, s.shared ? tiles : gridFor(tiles, s.workgroupSize), ctx.describeGroup(g));
  if (product) lowerEpilogue(ctx, g, out, product);
}

/** The group's roots computed from the product a micro-kernel GEMM wrote to `product`: one thread per element. */
function lowerEpilogue(ctx: Lowering, g: FusionGroup, out: Var, product: string): void {
  const wg = ctx.schedule.knobs.elementwiseWorkgroup;
  const k = ctx.kernel("epilogue", wg);
  const { kb, values } = k;
  const i = perItem(kb, numelExpr(out.shape));
  const idx = delinearize(i, out.shape).map((e) => kb.let(e, "ij"));
  values.scalars.set(out, kb.let(load(ctx.bindTemp(k, product, "read"), i, "f32"), "y", "f32"));
  for (const r of g.roots) kb.store(ctx.output(k, r), i, values.at(r, idx));
  ctx.launch(k, gridFor(numelSize(out.shape), wg), `${ctx.describeGroup(g)}\n(epilogue of the SIMD product)`);
}

/** ceil(x / n) as an i32 expression. */
export function cdivExpr(x: Expr, n: number): Expr {
  return iceilDiv(x, c(n));
}

function mulTiles(batch: Shape, M: Dim, N: Dim, tm: number, tn: number): Expr {
  const count = [...batch.map(dimExpr), cdivExpr(dimExpr(M), tm), cdivExpr(dimExpr(N), tn)];
  return count.reduce((x, y) => imul(x, y));
}
