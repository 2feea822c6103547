/**
 * SIMD128 contraction kernels for the wasm target (kernels carrying a
 * `Contraction`, f32): each workgroup is one 4 x 8 output tile, computed by a
 * register-blocked micro-kernel: 4 rows x two f32x4 column vectors = 8 vector
 * accumulators; per contraction step two vector loads of B, four
 * load-and-splat of A, eight multiply-adds (f32x4.relaxed_madd where the
 * engine validates it, else mul + add). The step loop is a do-while on B's
 * pointer against its end, with constant strides where the layout fixes them
 * (a panel row is 32 bytes, A's step 4): a counted loop tested at the top, with
 * B's stride a param, kept a counter and two params in stack slots, and ran at
 * 0.6-0.8x the speed (1024^3 and the grouped shapes, single thread, per
 * CPU-second). Accumulation is in f32. B comes packed
 * in 8-column panels (`bLayout: "panels"`, written by the lowering's pack
 * kernel: contiguous over the contraction, zero past the last column), so the
 * micro-kernel streams it with a fixed 32-byte step (B read in place with a
 * power-of-two row stride thrashed L1 sets: 15 GFLOP/s per thread at 1024^3)
 * and narrow tiles take the same vector path, storing lane by lane. Row-major B
 * (a lowering that does not pack) still works: its narrow tiles take a scalar
 * loop (same f32 sums).
 *
 * Tile order: runs of GROUP_ROWS row tiles sweep the column tiles together,
 * column tile outermost, so consecutive workgroups (one thread's chunk) reuse
 * the same B panel from L1 while A rows come from L2. The grouped GEMM finds
 * each row tile's group by walking the group sizes; its weight gradient
 * contracts over the group's rows with A read transposed (x[r, k0..k0+3]) and
 * B = dy in panels over all rows (a group's rows are a contiguous run of each).
 * The module's interface is the scalar kernels' (kernel.ts).
 */
import type { Contraction, Kernel, SizeExpr } from "../../kernel_ir";
import type { FunctionBody } from "./code";
import {
  defineTile,
  forRange,
  kernelArity,
  paramPositions,
  loopWhile,
  TILE_COLS,
  TILE_PARAMS,
  TILE_ROWS,
  type TileParam,
} from "./gemm_tile";
import { importHost, type WasmMemoryKind } from "./kernel";
import { ModuleBuilder } from "./module";
import { relaxedSimd } from "./relaxed_simd";

/** Row tiles per group of the tile order. */
const GROUP_ROWS = 16;

export { relaxedSimdAvailable } from "./relaxed_simd";

export interface GemmOptions extends WasmMemoryKind {
  /** Use f32x4.relaxed_madd (default: `relaxedSimd().enabled`, relaxed_simd.ts). */
  readonly relaxedMadd?: boolean;
}

/** Whether `kernel` gets a SIMD contraction kernel: a Contraction over f32 operands, in 4 x 8 tiles. */
export function simdContraction(kernel: Kernel): Contraction | null {
  const c = kernel.contraction;
  if (!c || c.tileRows !== TILE_ROWS || c.tileCols !== TILE_COLS) return null;
  if (!c.out && !c.epilogue) return null;
  const typeOf = (name: string) => kernel.params.find((p) => p.name === name)?.type;
  const floats = [c.a, c.b, c.out, c.sibling?.b, c.plus?.a, c.plus?.b].filter((n) => n !== undefined);
  if (c.aIndex && typeOf(c.aIndex.buffer) !== "i32") return null;
  return floats.every((n) => typeOf(n) === "f32") ? c : null;
}

/** Pushes a SizeExpr's value (i32) from the kernel's size params. */
export function sizeValue(f: FunctionBody, e: SizeExpr, sizeParam: (name: string) => number): void {
  if (typeof e === "number") return void f.i32(e);
  if (typeof e === "string") return void f.get(sizeParam(e));
  const [x, y] = e.args;
  const binary = (op: "i32.add" | "i32.mul" | "i32.div_s" | "i32.rem_s") => {
    sizeValue(f, e.args[0]!, sizeParam);
    for (const a of e.args.slice(1)) {
      sizeValue(f, a, sizeParam);
      f.op(op);
    }
  };
  switch (e.op) {
    case "add":
      return binary("i32.add");
    case "mul":
      return binary("i32.mul");
    // Sizes are non-negative: truncating division and remainder are floor division and mod.
    case "floorDiv":
      return binary("i32.div_s");
    case "mod":
      return binary("i32.rem_s");
    case "ceilDiv":
      sizeValue(f, x!, sizeParam);
      sizeValue(f, y!, sizeParam);
      f.op("i32.add").i32(1).op("i32.sub");
      sizeValue(f, y!, sizeParam);
      return void f.op("i32.div_s");
    case "max":
    case "min": {
      const t = f.local("i32");
      const u = f.local("i32");
      sizeValue(f, x!, sizeParam);
      f.set(t);
      sizeValue(f, y!, sizeParam);
      f.set(u);
      f.get(t)
        .get(u)
        .get(t)
        .get(u)
        .op(e.op === "max" ? "i32.gt_s" : "i32.lt_s")
        .op("select");
      return;
    }
  }
}

/**
 * The SIMD module of a contraction kernel (`simdContraction(kernel)` must be non-null).
 * @example WebAssembly.validate(renderGemmKernel(kernel, { shared: true })) // true
 */
export function renderGemmKernel(kernel: Kernel, options: GemmOptions): Uint8Array<ArrayBuffer> {
  const c = simdContraction(kernel);
  if (!c) throw new Error(`wasm emitter: kernel ${kernel.name} has no f32 4x8 contraction`);
  const m = new ModuleBuilder();
  const panels = c.bLayout === "panels";
  // A's strides: rows of `depth` (dense, grouped), or transposed: rows 4 bytes apart, steps of `depth`.
  const depthBytes = typeof c.depth === "number" ? c.depth * 4 : null;
  const staticA =
    depthBytes === null
      ? null
      : c.kind === "groupedWeightGrad"
        ? { row: 4, step: depthBytes }
        : { row: depthBytes, step: 4 };
  const imports = importHost(m, options);
  const gather = c.aIndex ? (c.kind === "groupedWeightGrad" ? "steps" : "rows") : null;
  const relaxedMadd = options.relaxedMadd ?? relaxedSimd().enabled;
  const tile = defineTile(m, kernel, c, imports, {
    relaxedMadd,
    padded: panels,
    staticA,
    aStep: c.kind === "groupedWeightGrad" ? depthBytes : 4,
    gather,
  });
  const nParams = kernelArity(kernel);
  const { index } = m.func({ params: Array.from({ length: nParams }, () => "i32" as const), results: [] }, (f) => {
    const { base, size: sizeParam } = paramPositions(kernel, "contraction");
    const first = nParams - 2;
    const last = nParams - 1;
    const local = (e: SizeExpr) => {
      const l = f.local("i32");
      sizeValue(f, e, sizeParam);
      f.set(l);
      return l;
    };
    const rows = local(c.rows);
    const cols = local(c.cols);
    const depth = local(c.depth);
    const groups = c.groups !== undefined ? local(c.groups) : -1;
    const [t, rt, ct, tilesN, tilesM, row0, col0, g, off, size, rest, gi] = Array.from({ length: 12 }, () =>
      f.local("i32"),
    );
    const i32 = (l: number) => () => f.get(l);
    // B's step per contraction index, in bytes: one panel row, or one row of b.
    const bStep = panels ? () => f.i32(TILE_COLS * 4) : () => f.get(cols).i32(2).op("i32.shl");
    f.get(cols)
      .i32(TILE_COLS - 1)
      .op("i32.add")
      .i32(TILE_COLS)
      .op("i32.div_s")
      .set(tilesN!);
    // Row tiles: dense ceil(rows/4); grouped ceil(rows/4) + groups (an upper bound on the groups' tiles);
    // weight gradient ceil(depth/4) per group.
    f.get(c.kind === "groupedWeightGrad" ? depth : rows)
      .i32(TILE_ROWS - 1)
      .op("i32.add")
      .i32(TILE_ROWS);
    f.op("i32.div_s");
    if (c.kind === "grouped") f.get(groups).op("i32.add");
    f.set(tilesM!);
    const gsLoad = (idx: number) =>
      f.get(base(c.groupSizes!)).get(idx).i32(2).op("i32.shl").op("i32.add").mem("i32.load");
    f.get(first).set(t!);
    loopWhile(
      f,
      () => f.get(t!).get(last).op("i32.lt_s"),
      () => {
        f.block((skip) => {
          // Weight gradient: t = g * perGroup + tile within the group.
          const within = f.local("i32");
          if (c.kind === "groupedWeightGrad") {
            f.get(t!).get(tilesM!).get(tilesN!).op("i32.mul").op("i32.div_s").set(g!);
            f.get(t!).get(tilesM!).get(tilesN!).op("i32.mul").op("i32.rem_s").set(within);
          } else f.get(t!).set(within);
          tileOrder(f, within, tilesM!, tilesN!, rt!, ct!);
          f.get(ct!).i32(TILE_COLS).op("i32.mul").set(col0!);
          /** Pushes min(tile, end - start): the extent of a tile cut off at `end` (locals `end`, `start`). */
          const extentLeft = (end: number, start: number, tile: number) => () => {
            f.get(end).get(start).op("i32.sub").set(size!);
            f.i32(tile).get(size!).get(size!).i32(tile).op("i32.gt_s").op("select");
          };
          const colsLeft = extentLeft(cols, col0!, TILE_COLS);
          /** Calls the micro-kernel with this function's params, then the tile's arguments (absent ones 0). */
          const call = (args: Partial<Record<TileParam, () => void>>) => {
            for (let i = 0; i < nParams; i++) f.get(i);
            for (const n of TILE_PARAMS) (args[n] ?? (() => f.i32(0)))();
            f.call(tile);
          };
          const ixRows = () => sizeValue(f, c.aIndex!.rows, sizeParam);
          if (c.kind === "dense" || c.kind === "grouped") {
            const rowEnd = f.local("i32");
            if (c.kind === "dense") {
              f.i32(0).set(g!);
              f.get(rt!).i32(TILE_ROWS).op("i32.mul").set(row0!);
              f.get(rows).set(rowEnd);
            } else {
              // Walk the groups to find row tile rt's group and rows.
              f.i32(-1).set(g!);
              f.get(rt!).set(rest!);
              f.i32(0).set(off!);
              forRange(f, gi!, i32(groups), () => {
                gsLoad(gi!);
                f.set(size!);
                f.get(g!).i32(0).op("i32.lt_s");
                f.if(() => {
                  const count = f.local("i32");
                  f.get(size!)
                    .i32(TILE_ROWS - 1)
                    .op("i32.add")
                    .i32(TILE_ROWS)
                    .op("i32.div_s")
                    .set(count);
                  f.get(rest!).get(count).op("i32.lt_s");
                  f.if(
                    () => {
                      f.get(gi!).set(g!);
                      f.get(off!).get(rest!).i32(TILE_ROWS).op("i32.mul").op("i32.add").set(row0!);
                      f.get(off!).get(size!).op("i32.add").set(rowEnd);
                    },
                    () => f.get(rest!).get(count).op("i32.sub").set(rest!),
                  );
                });
                f.get(off!).get(size!).op("i32.add").set(off!);
              });
              f.get(g!).i32(0).op("i32.lt_s").brIf(skip);
              clampInto(f, row0!, rows);
              clampInto(f, rowEnd, rows);
            }
            f.get(row0!).get(rowEnd).op("i32.ge_s").brIf(skip);
            const bAt = (b: string) =>
              panels
                ? () =>
                    addr(f, base(b), () => {
                      // ((g * tilesN + ct) * depth) * 8
                      f.get(g!).get(tilesN!).op("i32.mul").get(ct!).op("i32.add").get(depth).op("i32.mul");
                      f.i32(3).op("i32.shl");
                    })
                : () =>
                    addr(f, base(b), () => {
                      f.get(g!).get(depth).op("i32.mul").get(cols).op("i32.mul").get(col0!).op("i32.add");
                    });
            const rowsOf = (a: string) => () => addr(f, base(a), () => f.get(row0!).get(depth).op("i32.mul"));
            const second = c.sibling?.b ?? c.plus?.b;
            call({
              a: c.aIndex ? () => f.get(base(c.a)) : rowsOf(c.a),
              aRow: () => f.get(depth).i32(2).op("i32.shl"),
              aStep: () => f.i32(4),
              b: bAt(c.b),
              bStep,
              steps: i32(depth),
              ...(c.out
                ? {
                    c: () => addr(f, base(c.out!), () => f.get(row0!).get(cols).op("i32.mul").get(col0!).op("i32.add")),
                  }
                : {}),
              cRow: () => f.get(cols).i32(2).op("i32.shl"),
              rows: extentLeft(rowEnd, row0!, TILE_ROWS),
              cols: colsLeft,
              ...(c.aIndex ? { ix: () => addr(f, base(c.aIndex!.buffer), i32(row0!)), ixRows } : {}),
              ...(second ? { b2: bAt(second) } : {}),
              ...(c.plus ? { a2: rowsOf(c.plus.a) } : {}),
              row0: i32(row0!),
              col0: i32(col0!),
              group: i32(g!),
            });
          } else {
            // out[g, k0.., col0..] = sum over the group's rows r of x[r, k0..] * dy[r, col0..]
            f.i32(0).set(off!);
            forRange(f, gi!, i32(g!), () => {
              gsLoad(gi!);
              f.get(off!).op("i32.add").set(off!);
            });
            gsLoad(g!);
            f.get(off!).op("i32.add").set(rest!); // the group's end row
            clampInto(f, off!, rows);
            clampInto(f, rest!, rows);
            f.get(rest!).get(off!).op("i32.sub").set(rest!); // the group's row count
            f.get(rest!).i32(0).get(rest!).i32(0).op("i32.gt_s").op("select").set(rest!);
            f.get(rt!).i32(TILE_ROWS).op("i32.mul").set(row0!); // k0
            const bAt = (b: string) =>
              panels
                ? () =>
                    addr(f, base(b), () => {
                      // (ct * rows + off) * 8: panel ct of dy from the group's first row
                      f.get(ct!).get(rows).op("i32.mul").get(off!).op("i32.add").i32(3).op("i32.shl");
                    })
                : () => addr(f, base(b), () => f.get(off!).get(cols).op("i32.mul").get(col0!).op("i32.add"));
            const rowsOf = (a: string) => () =>
              addr(f, base(a), () => f.get(off!).get(depth).op("i32.mul").get(row0!).op("i32.add"));
            const second = c.sibling?.b ?? c.plus?.b;
            call({
              // Gathered: the source's column k0 (each step adds its row's offset).
              a: c.aIndex ? () => addr(f, base(c.a), i32(row0!)) : rowsOf(c.a),
              aRow: () => f.i32(4),
              aStep: () => f.get(depth).i32(2).op("i32.shl"),
              b: bAt(c.b),
              bStep,
              steps: i32(rest!),
              ...(c.out
                ? {
                    c: () =>
                      addr(f, base(c.out!), () => {
                        f.get(g!).get(depth).op("i32.mul").get(row0!).op("i32.add").get(cols).op("i32.mul");
                        f.get(col0!).op("i32.add");
                      }),
                  }
                : {}),
              cRow: () => f.get(cols).i32(2).op("i32.shl"),
              rows: extentLeft(depth, row0!, TILE_ROWS),
              cols: colsLeft,
              ...(c.aIndex ? { ix: () => addr(f, base(c.aIndex!.buffer), i32(off!)), ixRows } : {}),
              ...(second ? { b2: bAt(second) } : {}),
              ...(c.plus ? { a2: rowsOf(c.plus.a) } : {}),
              row0: i32(row0!),
              col0: i32(col0!),
              group: i32(g!),
            });
          }
        });
        f.get(t!).i32(1).op("i32.add").set(t!);
      },
    );
  });
  m.export("kernel", index);
  return m.encode();
}

/**
 * local = min(max(local, 0), hi). Group sizes are data: with checks off, bad
 * ones (negative, or summing past M) must still keep every tile inside the
 * rows, as the kernel-IR bodies do (ragged.ts), or a tile writes into the
 * next buffer of the one wasm memory.
 */
function clampInto(f: FunctionBody, l: number, hi: number): void {
  f.get(l).i32(0).get(l).i32(0).op("i32.gt_s").op("select").set(l);
  f.get(l).get(hi).get(l).get(hi).op("i32.lt_s").op("select").set(l);
}

/** Pushes the byte address of element `index()` (f32) of the buffer whose base is param `param`. */
function addr(f: FunctionBody, param: number, index: () => void): void {
  f.get(param);
  index();
  f.i32(2).op("i32.shl").op("i32.add");
}

/**
 * Tile `t` of a tilesM x tilesN grid in grouped order: runs of GROUP_ROWS row
 * tiles, column tile outer within a run, so consecutive tiles share B's panel.
 */
function tileOrder(f: FunctionBody, t: number, tilesM: number, tilesN: number, rt: number, ct: number): void {
  const inGroup = f.local("i32");
  const firstM = f.local("i32");
  const groupRows = f.local("i32");
  const r = f.local("i32");
  f.i32(GROUP_ROWS).get(tilesN).op("i32.mul").set(inGroup);
  f.get(t).get(inGroup).op("i32.div_s").i32(GROUP_ROWS).op("i32.mul").set(firstM);
  f.get(tilesM).get(firstM).op("i32.sub").set(groupRows);
  f.i32(GROUP_ROWS).get(groupRows).get(groupRows).i32(GROUP_ROWS).op("i32.gt_s").op("select").set(groupRows);
  f.get(t).get(inGroup).op("i32.rem_s").set(r);
  f.get(firstM).get(r).get(groupRows).op("i32.rem_s").op("i32.add").set(rt);
  f.get(r).get(groupRows).op("i32.div_s").set(ct);
}
