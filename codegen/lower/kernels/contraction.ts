/**
 * The inner part of every GEMM-like kernel (matmul, grouped GEMM, its weight
 * gradient): a tile of outputs out[row, col] = sum_k A(row, k) * B(k, col).
 *
 * Two schedules:
 * - register tile (JS, and GPU kernels whose loop bounds depend on data): each
 *   thread computes microM x microN outputs straight from memory;
 * - shared tile (GPU): the workgroup stages tileM x tileK of A and tileK x tileN
 *   of B in shared memory per K step (guarded loads, zero padding), barriers
 *   around the compute, each thread accumulating its microM x microN outputs.
 */
import { c, cast, load, type Expr, type ScalarType, type Target } from "../../kernel_ir";
import type { MatmulSchedule, Schedule } from "../../schedule";
import type { KernelBuilder } from "../builder";
import { iadd, idiv, imin, imul, irem, isub } from "../index_math";
import { localId } from "./common";
import { and, lt, sharedLoad } from "../ir_ops";
import type { Var } from "../../../dsl/program";
import type { ValueLowerer } from "../values";
import type { KernelHandle, OpContext } from "../op_context";
import { ceilDivSize, delinearize, dimExpr, linearize, mulSizes, numelExpr, numelSize } from "../index_math";
import type { Dim, Shape } from "../../../dsl/shape";
import { gridFor, perItem } from "./common";
import { targetCapabilities } from "../../targets";

/** Row tiles per group of the grouped tile order. */
const GROUP_M = 8;

/**
 * Grouped tile order for tile index `t` of a tilesM x tilesN grid: runs of
 * GROUP_M row tiles sweep the column tiles together, so a block of A rows and a
 * strip of B columns stay in cache while neighbouring tiles reuse them.
 */
export function groupedTileOrder(kb: KernelBuilder, t: Expr, tilesM: Expr, tilesN: Expr): { tm: Expr; tn: Expr } {
  const inGroup = kb.let(imul(c(GROUP_M), tilesN), "inGroup");
  const firstM = kb.let(imul(idiv(t, inGroup), c(GROUP_M)), "firstM");
  const groupRows = kb.let(imin(isub(tilesM, firstM), c(GROUP_M)), "groupRows");
  const tm = kb.let(iadd(firstM, irem(irem(t, inGroup), groupRows)), "tm");
  const tn = kb.let(idiv(irem(t, inGroup), groupRows), "tn");
  return { tm, tn };
}

/** The operands of one product summed by a tile. */
export interface TileTerm {
  /** Operand values at in-bounds positions. */
  loadA(row: Expr, k: Expr): Expr;
  loadB(k: Expr, col: Expr): Expr;
}

export interface TileSpec extends TileTerm {
  /** Output rows [rowStart, rowEnd) and columns [colStart, colEnd) this tile may write. */
  readonly rowStart: Expr;
  readonly rowEnd: Expr;
  readonly colStart: Expr;
  readonly colEnd: Expr;
  /** The contraction range [kStart, kEnd). */
  readonly kStart: Expr;
  readonly kEnd: Expr;
  readonly accType: ScalarType;
  /**
   * Products summed into the same accumulators after the first, each over its own
   * range (a sum of GEMMs is one GEMM over the concatenated depth: dX = dU Wu^T + dG Wg^T).
   */
  readonly then?: readonly (TileTerm & { readonly kStart: Expr; readonly kEnd: Expr })[];
  /**
   * Sibling sums with accumulators of their own over the same tile and range, reading
   * the first term's A (loaded, or staged in shared memory, once): gate and up projections.
   */
  readonly siblingB?: readonly ((k: Expr, col: Expr) => Expr)[];
  /** Writes the finished sum (and the siblings' sums, in order) for an in-bounds output. */
  store(row: Expr, col: Expr, acc: Expr, siblings: readonly Expr[]): void;
}

const fma = (acc: Expr, a: Expr, b: Expr, t: ScalarType): Expr => ({
  kind: "binary",
  op: "add",
  lhs: acc,
  rhs: { kind: "binary", op: "mul", lhs: a, rhs: b, type: t },
  type: t,
});

function asType(e: Expr, t: ScalarType): Expr {
  return e.kind !== "size" && e.kind !== "builtin" && e.type === t ? e : cast(e, t);
}

function accumulators(kb: KernelBuilder, s: MatmulSchedule, t: ScalarType): Expr[][] {
  return Array.from({ length: s.microM }, () => Array.from({ length: s.microN }, () => kb.mutable(c(0, t), "acc", t)));
}

/** One sequential pass of a tile: a product over its range, with the sibling B operands it shares A with. */
interface TilePass {
  readonly loadA: (row: Expr, k: Expr) => Expr;
  readonly loadBs: readonly ((k: Expr, col: Expr) => Expr)[];
  readonly kStart: Expr;
  readonly kEnd: Expr;
}

/** The passes of a tile: the first term with its siblings, then each summed term. */
function tilePasses(spec: TileSpec): TilePass[] {
  if (spec.then?.length && spec.siblingB?.length)
    throw new Error("internal: a tile has either sibling sums or summed terms, not both");
  const first: TilePass = {
    loadA: (row, k) => spec.loadA(row, k),
    loadBs: [(k, col) => spec.loadB(k, col), ...(spec.siblingB ?? [])],
    kStart: spec.kStart,
    kEnd: spec.kEnd,
  };
  const rest = (spec.then ?? []).map((t) => ({
    loadA: (row: Expr, k: Expr) => t.loadA(row, k),
    loadBs: [(k: Expr, col: Expr) => t.loadB(k, col)],
    kStart: t.kStart,
    kEnd: t.kEnd,
  }));
  return [first, ...rest];
}

/** Stores the accumulators: acc[j][r][q] is sum j of output (rowOf(r), colOf(q)). */
function storeTile(
  kb: KernelBuilder,
  spec: TileSpec,
  s: MatmulSchedule,
  acc: Expr[][][],
  rowOf: (r: number) => Expr,
  colOf: (q: number) => Expr,
): void {
  for (let r = 0; r < s.microM; r++) {
    const row = kb.let(rowOf(r), "row");
    for (let q = 0; q < s.microN; q++) {
      const col = colOf(q);
      kb.if(and(lt(row, spec.rowEnd), lt(col, spec.colEnd)), () =>
        spec.store(
          row,
          kb.let(col, "col"),
          acc[0]![r]![q]!,
          acc.slice(1).map((a) => a[r]![q]!),
        ),
      );
    }
  }
}

/** Register tile: this thread's microM x microN outputs from (row0, col0), read straight from memory. */
export function registerTile(kb: KernelBuilder, s: MatmulSchedule, spec: TileSpec, row0: Expr, col0: Expr): void {
  kb.if(and(lt(row0, spec.rowEnd), lt(col0, spec.colEnd)), () => {
    const t = spec.accType;
    const passes = tilePasses(spec);
    const acc = passes[0]!.loadBs.map(() => accumulators(kb, s, t));
    // Clamped rows/columns keep tail loads in bounds; their sums are never stored.
    const rows = Array.from({ length: s.microM }, (_, r) =>
      kb.let(imin(iadd(row0, c(r)), isub(spec.rowEnd, c(1))), "ar"),
    );
    const cols = Array.from({ length: s.microN }, (_, q) =>
      kb.let(imin(iadd(col0, c(q)), isub(spec.colEnd, c(1))), "bc"),
    );
    for (const pass of passes)
      kb.for(
        pass.kStart,
        pass.kEnd,
        (k) => {
          const a = rows.map((row) => kb.let(asType(pass.loadA(row, k), t), "a", t));
          pass.loadBs.forEach((loadB, j) => {
            const b = cols.map((col) => kb.let(asType(loadB(k, col), t), "b", t));
            const sum = acc[j]!;
            for (let r = 0; r < s.microM; r++)
              for (let q = 0; q < s.microN; q++) kb.assign(sum[r]![q]!, fma(sum[r]![q]!, a[r]!, b[q]!, t));
          });
        },
        "k",
      );
    storeTile(
      kb,
      spec,
      s,
      acc,
      (r) => iadd(row0, c(r)),
      (q) => iadd(col0, c(q)),
    );
  });
}

/**
 * Shared tile: the workgroup computes outputs [rowStart, rowStart + tileM) x
 * [colStart, colStart + tileN). Loop bounds must be workgroup-uniform (barriers).
 * Thread (ty, tx) owns microM x microN outputs: a contiguous block (`blocked`)
 * or every threadsM-th row and threadsN-th column (`strided`: neighbouring
 * threads read neighbouring shared-memory words, no bank conflicts, and store
 * neighbouring outputs). Sibling sums stage one B tile each next to the shared A tile.
 */
export function sharedTile(kb: KernelBuilder, s: MatmulSchedule, spec: TileSpec): void {
  const t = spec.accType;
  const passes = tilePasses(spec);
  const lid = localId(kb);
  const threadsM = s.tileM / s.microM;
  const threadsN = s.tileN / s.microN;
  const tx = kb.let(irem(lid, c(threadsN)), "tx");
  const ty = kb.let(idiv(lid, c(threadsN)), "ty");
  // Offsets inside the tile of this thread's r-th row and q-th column.
  const rowIn = (r: number): Expr => (s.strided ? iadd(ty, c(r * threadsM)) : iadd(imul(ty, c(s.microM)), c(r)));
  const colIn = (q: number): Expr => (s.strided ? iadd(tx, c(q * threadsN)) : iadd(imul(tx, c(s.microN)), c(q)));
  const shA = kb.sharedArray("tileA", t, s.tileM * s.tileK);
  const shBs = passes[0]!.loadBs.map(() => kb.sharedArray("tileB", t, s.tileK * s.tileN));
  const acc = shBs.map(() => accumulators(kb, s, t));
  const stage = (
    array: string,
    count: number,
    width: number,
    at: (outer: Expr, inner: Expr, k0: Expr) => { ok: Expr; value: () => Expr },
    k0: Expr,
  ) => {
    kb.for(
      lid,
      c(count),
      (e) => {
        const outer = kb.let(idiv(e, c(width)), "so");
        const inner = kb.let(irem(e, c(width)), "si");
        const { ok, value } = at(outer, inner, k0);
        const v = kb.mutable(c(0, t), "stage", t);
        kb.if(ok, () => kb.assign(v, asType(value(), t)));
        kb.sharedStore(array, e, v);
      },
      "e",
      c(s.workgroupSize),
    );
  };
  for (const pass of passes)
    kb.for(
      pass.kStart,
      pass.kEnd,
      (k0) => {
        stage(
          shA,
          s.tileM * s.tileK,
          s.tileK,
          (r, kk, base) => {
            const row = iadd(spec.rowStart, r);
            const k = iadd(base, kk);
            return {
              ok: and(lt(row, spec.rowEnd), lt(k, pass.kEnd)),
              value: () => pass.loadA(kb.let(row, "row"), kb.let(k, "k")),
            };
          },
          k0,
        );
        pass.loadBs.forEach((loadB, j) =>
          stage(
            shBs[j]!,
            s.tileK * s.tileN,
            s.tileN,
            (kk, q, base) => {
              const k = iadd(base, kk);
              const col = iadd(spec.colStart, q);
              return {
                ok: and(lt(k, pass.kEnd), lt(col, spec.colEnd)),
                value: () => loadB(kb.let(k, "k"), kb.let(col, "col")),
              };
            },
            k0,
          ),
        );
        kb.barrier();
        kb.for(
          c(0),
          c(s.tileK),
          (kk) => {
            const a = Array.from({ length: s.microM }, (_, r) =>
              kb.let(sharedLoad(shA, iadd(imul(rowIn(r), c(s.tileK)), kk), t), "a", t),
            );
            shBs.slice(0, pass.loadBs.length).forEach((shB, j) => {
              const b = Array.from({ length: s.microN }, (_, q) =>
                kb.let(sharedLoad(shB, iadd(imul(kk, c(s.tileN)), colIn(q)), t), "b", t),
              );
              const sum = acc[j]!;
              for (let r = 0; r < s.microM; r++)
                for (let q = 0; q < s.microN; q++) kb.assign(sum[r]![q]!, fma(sum[r]![q]!, a[r]!, b[q]!, t));
            });
          },
          "kk",
        );
        kb.barrier();
      },
      "k0",
      c(s.tileK),
    );
  storeTile(
    kb,
    spec,
    s,
    acc,
    (r) => iadd(spec.rowStart, rowIn(r)),
    (q) => iadd(spec.colStart, colIn(q)),
  );
}

/** An operand of a GEMM kernel: how the kernel reads it, and the buffer param holding it (null: computed in place). */
export interface ContractionOperand {
  readonly buffer: string | null;
  at(idx: readonly Expr[]): Expr;
}

/**
 * How GEMM kernel `k` reads operand `v`. On a target with contraction
 * micro-kernels (wasm) an f32 operand computed in place (a gather it cannot fuse: see gatheredRows, an
 * activation, a transpose) is first written to a scratch buffer by a kernel
 * of its own, so the micro-kernel reads plain memory; elsewhere it stays fused.
 */
export function contractionOperand(ctx: OpContext, k: KernelHandle, v: Var): ContractionOperand {
  const direct = bufferParam(k.values, v);
  const materialise = contractionNeedsPlainOperands(ctx.target, ctx.schedule);
  if (direct || !materialise || v.dtype !== "f32" || k.values.scalars.has(v))
    return { buffer: direct, at: (idx) => k.values.at(v, idx) };
  const wg = ctx.schedule.knobs.elementwiseWorkgroup;
  const m = ctx.kernel("operand", wg);
  const temp = ctx.temp("f32", numelSize(v.shape), "operand");
  const i = perItem(m.kb, numelExpr(v.shape));
  const value = m.values.at(v, delinearize(i, v.shape));
  m.kb.store(ctx.bindTemp(m, temp, "readWrite"), i, value);
  ctx.launch(m, gridFor(numelSize(v.shape), wg), `${v} materialised for a SIMD contraction`);
  const name = ctx.bindTemp(k, temp, "read");
  return { buffer: name, at: (idx) => load(name, linearize(idx, v.shape), "f32") };
}

/**
 * Whether GEMM kernels on `target` read plain buffers, because a renderer of its own computes them from their
 * `Contraction`: the target's micro-kernels (wasm; the schedule has no shared tiles), or tensor-core tiles
 * (`schedule.tensorCores`).
 */
export function contractionNeedsPlainOperands(target: Target, schedule: Schedule): boolean {
  return microKernelTarget(target, schedule) || schedule.tensorCores;
}

/** Whether `target` renders GEMMs with serial micro-kernels of its own (wasm). */
export function microKernelTarget(target: Target, schedule: Schedule): boolean {
  return targetCapabilities(target).contractionTile !== null && !schedule.sharedMemory;
}

/**
 * The B operand of GEMM kernel `k` (`v`: [depth, cols], or [groups, depth, cols])
 * packed for a target with contraction micro-kernels: a kernel of its own
 * writes it as column panels of `tileCols` (`Contraction.bLayout` "panels":
 * depth x tileCols, contiguous, zero past the last column), reading `v`
 * through its fused producer (a transposed weight costs no extra pass), so the
 * micro-kernel streams B sequentially (no cache-set aliasing at power-of-two
 * row strides) and needs no column-tail path. Returns the panel buffer as a
 * param of `k`, or null where nothing is packed (other targets, non-f32, a
 * value `k` already holds).
 */
export function panelOperand(ctx: OpContext, k: KernelHandle, v: Var, tileCols: number): string | null {
  const micro = contractionNeedsPlainOperands(ctx.target, ctx.schedule);
  if (!micro || v.dtype !== "f32" || k.values.scalars.has(v) || (v.shape.length !== 2 && v.shape.length !== 3))
    return null;
  const [depth, cols] = v.shape.slice(-2) as [Dim, Dim];
  const groups: Dim = v.shape.length === 3 ? v.shape[0]! : 1;
  const panels = ceilDivSize(cols, tileCols);
  // One thread per panel row (g, p, kk): its tileCols entries.
  const shape: Shape = [groups, panels, depth];
  const wg = ctx.schedule.knobs.elementwiseWorkgroup;
  const m = ctx.kernel("pack_panels", wg);
  const temp = ctx.temp("f32", mulSizes(numelSize(shape), tileCols), "panels");
  const i = perItem(m.kb, numelExpr(shape));
  const [g, p, kk] = delinearize(i, shape).map((e) => m.kb.let(e, "pk")) as [Expr, Expr, Expr];
  const dst = ctx.bindTemp(m, temp, "readWrite");
  for (let j = 0; j < tileCols; j++) {
    const col = m.kb.let(iadd(imul(p, c(tileCols)), c(j)), "col");
    // Columns past the last read the last one (in bounds) and store 0.
    const idx = [kk, imin(col, isub(dimExpr(cols), c(1)))];
    const value = m.values.at(v, v.shape.length === 3 ? [g, ...idx] : idx);
    const inside = lt(col, dimExpr(cols));
    const padded: Expr = { kind: "select", cond: inside, onTrue: value, onFalse: c(0, "f32"), type: "f32" };
    m.kb.store(dst, iadd(imul(i, c(tileCols)), c(j)), padded);
  }
  // A plain row-major source: described for a target's vector copy (the body above stays its semantics).
  const source = bufferParam(m.values, v);
  if (source) m.kb.pack = { source, panels: dst, groups, depth, cols, tileCols };
  const comment = `${v} packed into ${tileCols}-column panels for a SIMD contraction`;
  ctx.launch(m, gridFor(numelSize(shape), wg), comment, { reusable: true });
  return ctx.bindTemp(k, temp, "read");
}

/**
 * The buffer param holding `v` when the kernel reads it straight from memory
 * (not computed in place, not a held scalar or literal), else null: a
 * Contraction can only name buffers.
 */
export function bufferParam(values: ValueLowerer, v: Var): string | null {
  if (values.members.has(v) || values.scalars.has(v) || values.source.consts.has(v)) return null;
  return values.source.slotOf(v);
}
