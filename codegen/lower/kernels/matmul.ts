/**
 * Matmul kernels with fused operand loads (a transposed or broadcast operand is
 * read in place) and a fused elementwise epilogue (bias, activation, scaling):
 * the epilogue's outputs are computed from the accumulator, so `relu(x @ w + b)`
 * is one kernel.
 */
import type { Eqn } from "../../../dsl/program";
import type { Dim, Shape } from "../../../dsl/shape";
import { c, cast, type Expr } from "../../kernel_ir";
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
  numelSize,
} from "../index_math";
import type { Lowering } from "../lower";
import { gridFor, groupId, perItem } from "./common";
import { bufferParam, groupedTileOrder, panelOperand, registerTile, sharedTile, type TileSpec } from "./contraction";

export function lowerMatmulGroup(ctx: Lowering, g: FusionGroup): void {
  const e = g.mains[0] as Eqn<"matmul">;
  const [a, b] = e.inputs as [typeof e.out, typeof e.out];
  const out = e.out;
  const rank = out.shape.length;
  const batchShape = out.shape.slice(0, rank - 2);
  const [M, N] = [out.shape[rank - 2]!, out.shape[rank - 1]!];
  const K = a.shape[rank - 1]!;
  const s = ctx.schedule.matmul();
  const outType = scalarType(out.dtype);
  const accType = ctx.schedule.accumulator(outType);
  const tilesM = ceilDivSize(M, s.tileM);
  const tilesN = ceilDivSize(N, s.tileN);
  const tiles = mulSizes(numelSize(batchShape), tilesM, tilesN);

  const k = ctx.kernel("matmul", s.workgroupSize);
  const { kb, values } = k;
  // A plain 2-D product with A in a buffer and no epilogue is a Contraction (targets' own micro-kernels),
  // B packed in panels where the target streams it.
  const contracts = rank === 2 && bufferParam(values, a) !== null && g.roots.length === 1 && g.roots[0] === out;
  const panelsB = contracts && !s.shared ? panelOperand(ctx, k, b, s.tileN) : null;
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
    loadA: (row, kk) => values.at(a, [...bIdx, row, kk]),
    loadB: (kk, col) => values.at(b, [...bIdx, kk, col]),
    store: (row, col, acc) => {
      values.scalars.set(out, kb.let(accType === outType ? acc : cast(acc, outType), "y", outType));
      const idx = [...bIdx, row, col];
      const flat = kb.let(linearize(idx, out.shape), "f");
      for (const r of g.roots) kb.store(ctx.output(k, r), flat, values.at(r, idx));
    },
  };
  if (s.shared) sharedTile(kb, s, spec);
  else registerTile(kb, s, spec, spec.rowStart, spec.colStart);
  const aBuf = bufferParam(values, a);
  const bBuf = panelsB ?? bufferParam(values, b);
  if (contracts && aBuf && bBuf && !s.shared)
    kb.contraction = {
      kind: "dense",
      a: aBuf,
      b: bBuf,
      out: ctx.output(k, out),
      rows: M,
      cols: N,
      depth: K,
      tileRows: s.tileM,
      tileCols: s.tileN,
      bLayout: panelsB ? "panels" : "rowMajor",
    };
  ctx.launch(k, s.shared ? tiles : gridFor(tiles, s.workgroupSize), ctx.describeGroup(g));
}

/** ceil(x / n) as an i32 expression. */
export function cdivExpr(x: Expr, n: number): Expr {
  return iceilDiv(x, c(n));
}

function mulTiles(batch: Shape, M: Dim, N: Dim, tm: number, tn: number): Expr {
  const count = [...batch.map(dimExpr), cdivExpr(dimExpr(M), tm), cdivExpr(dimExpr(N), tn)];
  return count.reduce((x, y) => imul(x, y));
}
