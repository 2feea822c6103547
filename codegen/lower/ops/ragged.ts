/**
 * Grouped GEMMs (MoE experts): rows of x come in contiguous groups, group g
 * multiplied by w[g]. Forward: output row tiles never straddle groups; tile t
 * finds its group by walking the group sizes (the launch has ceil(M/tile) + G
 * row tiles, an upper bound on sum_g ceil(size_g/tile); spare tiles write
 * nothing). Weight gradient: dw[g] = x_g^T dy_g, one tile of dw per thread,
 * summing over the group's rows (data-dependent loop bounds, so no barriers).
 *
 * Group sizes are data: a one-thread kernel checks them (non-negative, summing
 * to M) like the interpreter, once per group-size array, when checks are on;
 * the GEMMs clamp their row ranges into [0, M), so bad sizes never read or
 * write out of bounds either way.
 */
import type { Eqn, Var } from "../../../dsl/program";
import { c, type Expr } from "../../kernel_ir";
import { scalarType } from "../../types";
import { dimAdd, type Dim } from "../../../dsl/dims";
import { GROUP_SIZE_ERRORS } from "../../../dsl/primitives/linalg";
import { ceilDivSize, dimExpr, iadd, iceilDiv, idiv, imax, imin, imul, irem, linearize, mulSizes } from "../index_math";
import { lt, ne } from "../ir_ops";
import { gridFor, groupId, perItem } from "../kernels/common";
import {
  bufferParam,
  contractionOperand,
  groupedTileOrder,
  panelOperand,
  registerTile,
  sharedTile,
  type TileSpec,
} from "../kernels/contraction";
import type { OpContext } from "../op_context";

/**
 * A run-time check of group sizes `gs` for `rows` rows (one per array and row
 * count). Reported as raggedMatmul's error for the weight gradient too: the
 * interpreter checks the forward op first, and that is the op the user called.
 */
function checkGroupSizes(ctx: OpContext, e: Eqn, gs: Var, rows: Dim): void {
  if (!ctx.checks) return;
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

export function lowerRaggedMatmul(ctx: OpContext, e: Eqn<"raggedMatmul">): void {
  const [x, w, gs] = e.inputs as [Var, Var, Var];
  const [M, K] = x.shape as [Dim, Dim];
  const [G, , N] = w.shape as [Dim, Dim, Dim];
  checkGroupSizes(ctx, e, gs, M);
  const s = ctx.schedule.matmul();
  const outType = scalarType(e.out.dtype);
  const accType = ctx.schedule.accumulator(outType);
  const rowTiles = dimAdd(ceilDivSize(M, s.tileM), G);
  const tiles = mulSizes(rowTiles, ceilDivSize(N, s.tileN));
  const k = ctx.kernel("ragged_matmul", s.workgroupSize);
  const { kb, values } = k;
  const opA = contractionOperand(ctx, k, x);
  // With A in a buffer, a micro-kernel target gets B (the experts' weights) packed in panels.
  const panelsB = opA.buffer && bufferParam(values, gs) ? panelOperand(ctx, k, w, s.tileN) : null;
  const opB = panelsB
    ? { buffer: panelsB, at: (idx: readonly Expr[]) => values.at(w, idx) }
    : contractionOperand(ctx, k, w);
  const out = ctx.output(k, e.out);
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
    (g) => {
      const size = kb.let(values.at(gs, [g]), "size");
      const count = kb.let(iceilDiv(size, c(s.tileM)), "count");
      kb.if(lt(group, c(0)), () =>
        kb.if(
          lt(rest, count),
          () => {
            kb.assign(group, g);
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
  const g: Expr = kb.let({ kind: "binary", op: "max", lhs: group, rhs: c(0), type: "i32" }, "grp");
  const spec: TileSpec = {
    rowStart,
    rowEnd,
    colStart: kb.let(imul(tn, c(s.tileN)), "colStart"),
    colEnd: dimExpr(N),
    kStart: c(0),
    kEnd: dimExpr(K),
    accType,
    loadA: (row, kk) => opA.at([row, kk]),
    loadB: (kk, col) => opB.at([g, kk, col]),
    store: (row, col, acc) =>
      kb.store(
        out,
        linearize([row, col], e.out.shape),
        accType === outType ? acc : { kind: "cast", arg: acc, type: outType },
      ),
  };
  if (s.shared) sharedTile(kb, s, spec);
  else registerTile(kb, s, spec, rowStart, spec.colStart);
  const gsBuf = bufferParam(values, gs);
  if (opA.buffer && opB.buffer && gsBuf)
    kb.contraction = {
      kind: "grouped",
      a: opA.buffer,
      b: opB.buffer,
      out,
      groupSizes: gsBuf,
      rows: M,
      cols: N,
      depth: K,
      groups: G,
      tileRows: s.tileM,
      tileCols: s.tileN,
      bLayout: panelsB ? "panels" : "rowMajor",
    };
  ctx.launch(k, s.shared ? tiles : gridFor(tiles, s.workgroupSize), ctx.describe(e));
}

export function lowerRaggedMatmulWeightGrad(ctx: OpContext, e: Eqn<"raggedMatmulWeightGrad">): void {
  const [x, dy, gs] = e.inputs as [Var, Var, Var];
  const M = x.shape[0]!;
  checkGroupSizes(ctx, e, gs, M);
  const K = x.shape[1]!;
  const N = dy.shape[1]!;
  const G = gs.shape[0]!;
  const base = ctx.schedule.matmul();
  // Register tiles only: the contraction length is data dependent (no barriers around it).
  const s = {
    ...base,
    shared: false,
    tileM: base.microM,
    tileN: base.microN,
    workgroupSize: base.shared ? ctx.schedule.knobs.elementwiseWorkgroup : 1,
  };
  const outType = scalarType(e.out.dtype);
  const accType = ctx.schedule.accumulator(outType);
  const tiles = mulSizes(G, ceilDivSize(K, s.tileM), ceilDivSize(N, s.tileN));
  const k = ctx.kernel("ragged_matmul_wgrad", s.workgroupSize);
  const { kb, values } = k;
  const opA = contractionOperand(ctx, k, x);
  // B (dy, contracted over its rows) in panels on a micro-kernel target, when the kernel can be a Contraction.
  const contracts = s.workgroupSize === 1 && opA.buffer !== null && bufferParam(values, gs) !== null;
  const panelsB = contracts ? panelOperand(ctx, k, dy, s.tileN) : null;
  const opB = panelsB
    ? { buffer: panelsB, at: (idx: readonly Expr[]) => values.at(dy, idx) }
    : contractionOperand(ctx, k, dy);
  const out = ctx.output(k, e.out);
  const tilesN = iceilDiv(dimExpr(N), c(s.tileN));
  const tilesK = iceilDiv(dimExpr(K), c(s.tileM));
  const tile = perItem(kb, imul(imul(dimExpr(G), tilesK), tilesN));
  const perGroup = kb.let(imul(tilesK, tilesN), "perGroup");
  const g = kb.let(idiv(tile, perGroup), "g");
  const { tm: tk, tn } = groupedTileOrder(kb, irem(tile, perGroup), tilesK, tilesN);
  const offset = kb.mutable(c(0), "offset", "i32");
  kb.for(c(0), g, (q) => kb.assign(offset, iadd(offset, values.at(gs, [q]))), "q");
  const start = kb.let(clampRow(offset, M), "start");
  const end = kb.let(clampRow(iadd(offset, values.at(gs, [g])), M), "end");
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
    store: (row, col, acc) =>
      kb.store(
        out,
        linearize([g, row, col], e.out.shape),
        accType === outType ? acc : { kind: "cast", arg: acc, type: outType },
      ),
  };
  registerTile(kb, s, spec, spec.rowStart, spec.colStart);
  const gsBuf = bufferParam(values, gs);
  if (s.workgroupSize === 1 && opA.buffer && opB.buffer && gsBuf)
    kb.contraction = {
      kind: "groupedWeightGrad",
      a: opA.buffer,
      b: opB.buffer,
      out,
      groupSizes: gsBuf,
      rows: x.shape[0]!,
      cols: N,
      depth: K,
      groups: G,
      tileRows: s.tileM,
      tileCols: s.tileN,
      bLayout: panelsB ? "panels" : "rowMajor",
    };
  ctx.launch(k, gridFor(tiles, s.workgroupSize), ctx.describe(e));
}
