/**
 * The SIMD128 4 x 8 micro-kernel of the wasm contraction kernels (gemm.ts): one
 * output tile c[r, q] = sum_s A(r, s) * b[s, q] for r < rows, q < cols, as a
 * function the kernel's tile loop calls. Its params are the kernel function's
 * own (buffer bases, sizes, numGroups, first, last: same positions, so an
 * epilogue's kernel-IR statements render here with kernel.ts's writer), then
 * the tile's arguments (TILE_PARAMS, byte addresses and strides).
 *
 * What a Contraction can add (kernel_ir.ts) is rendered here:
 * - the token gather (`aIndex`): row r's pointer is a + index[r] * aRow
 *   (grouped), or each contraction step's is a + index[s] * aStep (weight
 *   gradient, A read transposed); indices clamped into the source's rows;
 * - a sibling sum (gate and up, with an epilogue): each column half of the
 *   tile is one pass with both sums (4 rows x {b, b2} = 8 accumulators), then
 *   its epilogue, so no pass holds another's accumulators (8 held + 8 + B + A
 *   would pass x64's 16 vector registers);
 * - a summed product (`plus`): a second pass with a2 and b2 into the same sums;
 * - the epilogue: per in-bounds output, the sums' lanes bound as the
 *   epilogue's variables and its statements run (scalar), instead of the
 *   vector store.
 */
import type { Contraction, Kernel } from "../../kernel_ir";
import type { FunctionBody, Label } from "./code";
import { defineInlineMath } from "./inline_exp";
import { defineHelpers, KernelWriter, type Imports } from "./kernel";
import type { ModuleBuilder } from "./module";
import type { ValType } from "./opcodes";

export const TILE_ROWS = 4;
export const TILE_COLS = 8;

/** The tile's arguments after the kernel's params (all i32; strides in bytes). */
export const TILE_PARAMS = [
  "a",
  "aRow",
  "aStep",
  "b",
  "bStep",
  "steps",
  "c",
  "cRow",
  "rows",
  "cols",
  /** Address of the gather index of the tile's first row (grouped) or first step (weight gradient). */
  "ix",
  /** Rows of the gathered source: indices are clamped into [0, ixRows). */
  "ixRows",
  /** The sibling's or the summed product's B, at the same offset as b. */
  "b2",
  /** The summed product's A, at the same offset as a. */
  "a2",
  "row0",
  "col0",
  "group",
] as const;
export type TileParam = (typeof TILE_PARAMS)[number];

/** Params of the kernel function before the tile's: buffers, sizes, numGroups, first, last. */
export const kernelArity = (kernel: Kernel): number => kernel.params.length + kernel.sizes.length + 3;

/**
 * The function param positions of `kernel`'s buffer bases and size values by name (`what` names the
 * descriptor in errors: a contraction's or a panel copy's buffer that is not among the kernel's).
 */
export function paramPositions(kernel: Kernel, what: string) {
  return {
    base(name: string): number {
      const i = kernel.params.findIndex((p) => p.name === name);
      if (i < 0) throw new Error(`wasm emitter: ${what} buffer ${name} is not a param of ${kernel.name}`);
      return i;
    },
    size(name: string): number {
      const i = kernel.sizes.indexOf(name);
      if (i < 0) throw new Error(`wasm emitter: ${what} size ${name} is not among ${kernel.name}'s sizes`);
      return kernel.params.length + i;
    },
  };
}

export interface TileConfig {
  readonly relaxedMadd: boolean;
  /** B in panels (zero past the last column): every tile takes the vector path. */
  readonly padded: boolean;
  /** A's row and step strides in bytes when static (rows then at constant offsets). */
  readonly staticA: { readonly row: number; readonly step: number } | null;
  /** A's step stride in bytes when static (4 unless A is read transposed). */
  readonly aStep: number | null;
  /** The first product's A gathered per row (grouped) or per step (weight gradient). */
  readonly gather: "rows" | "steps" | null;
}

/** Defines the micro-kernel of `kernel`'s contraction `c`; returns its function index. */
export function defineTile(
  m: ModuleBuilder,
  kernel: Kernel,
  c: Contraction,
  imports: Imports,
  cfg: TileConfig,
): number {
  const fused = c.aIndex || c.sibling || c.plus || c.epilogue;
  if (fused && !cfg.padded)
    throw new Error(`wasm emitter: kernel ${kernel.name}: a fused contraction needs B in panels`);
  const helpers = c.epilogue ? defineHelpers(m, imports) : null;
  const inline = c.epilogue ? defineInlineMath(m) : null;
  const lead = kernelArity(kernel);
  const params: ValType[] = Array.from({ length: lead + TILE_PARAMS.length }, () => "i32");
  return m.func({ params, results: [] }, (f) => {
    const P = (n: TileParam) => lead + TILE_PARAMS.indexOf(n);
    const pb = f.local("i32");
    const pix = f.local("i32");
    const pg = f.local("i32");
    const last = f.local("i32");
    const hi = f.local("i32");
    const pa = [0, 1, 2, 3].map(() => f.local("i32"));
    f.get(P("rows")).i32(1).op("i32.sub").set(last);
    /** Pushes min(r, rows - 1): rows past `rows` read the last valid row (their sums are never stored). */
    const clampedRow = (r: number) => f.i32(r).get(last).i32(r).get(last).op("i32.lt_s").op("select");
    /** Replaces the address on the stack by the gathered row index there, clamped into [0, ixRows). */
    const gatheredIndex = () => {
      f.mem("i32.load").set(pg);
      f.get(pg).i32(0).get(pg).i32(0).op("i32.gt_s").op("select").set(pg);
      f.get(P("ixRows")).i32(1).op("i32.sub").set(hi);
      f.get(pg).get(hi).get(pg).get(hi).op("i32.lt_s").op("select");
    };
    /** Row pointers of a pass over A at `base` (with the per-step gather: offsets from the step's row). */
    const initA = (base: number, gather: TileConfig["gather"]) =>
      pa.forEach((p, r) => {
        if (gather === "rows") {
          f.get(base).get(P("ix"));
          clampedRow(r).i32(2).op("i32.shl").op("i32.add");
          gatheredIndex();
          f.get(P("aRow")).op("i32.mul").op("i32.add");
        } else {
          if (gather !== "steps") f.get(base);
          clampedRow(r).get(P("aRow")).op("i32.mul");
          if (gather !== "steps") f.op("i32.add");
        }
        f.set(p);
      });
    const acc = Array.from({ length: 8 }, () => f.local("v128"));
    const b0 = f.local("v128");
    const b1 = f.local("v128");
    const av = f.local("v128");
    const zero = (xs: readonly number[]) => xs.forEach((x) => f.f32(0).simd("f32x4.splat").set(x));
    const pb2 = f.local("i32");
    /**
     * B's two vectors per step: the panel's 8 columns (plain), or for a sibling tile column half h,
     * columns 4h..4h+3 of b and of b2 (the half's two sums: acc[r * 2] and acc[r * 2 + 1]).
     */
    let bVectors: readonly { readonly ptr: number; readonly offset: number }[] = [];
    const pend = f.local("i32");
    const aStep = () => (cfg.aStep !== null ? f.i32(cfg.aStep) : f.get(P("aStep")));
    /** Pushes B's step in bytes: one panel row (a constant) with B in panels, else the bStep argument. */
    const bStep = () => (cfg.padded ? f.i32(TILE_COLS * 4) : f.get(P("bStep")));
    /**
     * The contraction loop over B at `bParam`, A's row r loaded by `loadA(r)`, its pointers moved on by `stepA()`:
     * a do-while on B's pointer against its end (no step counter, strides constant where known), entered when
     * there are steps (cheaper control than a counted loop tested at the top: gemm.ts's TSDoc).
     */
    const steps = (bParam: number, loadA: (r: number) => void, stepA: () => void, beforeA = () => {}) => {
      f.get(bParam).set(pb);
      if (c.sibling) f.get(P("b2")).set(pb2);
      f.get(P("steps"));
      bStep();
      f.op("i32.mul").get(pb).op("i32.add").set(pend);
      f.get(P("steps")).i32(0).op("i32.gt_s");
      f.if(() =>
        f.loop((again) => {
          [b0, b1].forEach((bv, j) => f.get(bVectors[j]!.ptr).simdMem("v128.load", bVectors[j]!.offset).set(bv));
          beforeA();
          for (let r = 0; r < TILE_ROWS; r++) {
            loadA(r);
            f.set(av);
            [b0, b1].forEach((bv, q) => {
              const x = acc[r * 2 + q]!;
              if (cfg.relaxedMadd) f.get(av).get(bv).get(x).simd("f32x4.relaxed_madd");
              else f.get(x).get(av).get(bv).simd("f32x4.mul").simd("f32x4.add");
              f.set(x);
            });
          }
          stepA();
          if (c.sibling) {
            f.get(pb2);
            bStep();
            f.op("i32.add").set(pb2);
          }
          f.get(pb);
          bStep();
          // pend = pb + steps * bStep exactly (bStep > 0): `ne` ends it, even at the top of the address space.
          f.op("i32.add").tee(pb).get(pend).op("i32.ne").brIf(again);
        }),
      );
    };
    const fullHeight = (full: () => void, partial: () => void) => {
      f.get(P("rows")).i32(TILE_ROWS).op("i32.eq");
      f.if(full, partial);
    };
    /** One pass: sums += A(at `aBase`) x B(at `bParam`). */
    const pass = (aBase: number, bParam: number, gather: TileConfig["gather"]) => {
      initA(aBase, gather);
      const fourPointers = () =>
        steps(
          bParam,
          (r) => f.get(pa[r]!).simdMem("v128.load32_splat"),
          () =>
            pa.forEach((p) => {
              f.get(p);
              aStep();
              f.op("i32.add").set(p);
            }),
        );
      if (gather === "steps") {
        // The step's source row: a + index[s] * aStep; the tile's rows at offsets from it.
        f.get(P("ix")).set(pix);
        const stepRow = () => {
          f.get(aBase).get(pix);
          gatheredIndex();
          f.get(P("aStep")).op("i32.mul").op("i32.add").set(pg);
        };
        const nextIndex = () => f.get(pix).i32(4).op("i32.add").set(pix);
        const byOffsets = () =>
          steps(bParam, (r) => f.get(pg).get(pa[r]!).op("i32.add").simdMem("v128.load32_splat"), nextIndex, stepRow);
        const row = cfg.staticA?.row;
        if (row === undefined) byOffsets();
        else
          fullHeight(
            () => steps(bParam, (r) => f.get(pg).simdMem("v128.load32_splat", r * row), nextIndex, stepRow),
            byOffsets,
          );
      } else if (gather === "rows" || !cfg.staticA) fourPointers();
      else {
        // Full-height tiles with A's strides known: one pointer, rows at constant offsets.
        const { row, step } = cfg.staticA;
        fullHeight(
          () =>
            steps(
              bParam,
              (r) => f.get(pa[0]!).simdMem("v128.load32_splat", r * row),
              () => f.get(pa[0]!).i32(step).op("i32.add").set(pa[0]!),
            ),
          fourPointers,
        );
      }
    };
    if (cfg.padded) f.i32(1);
    else f.get(P("cols")).i32(TILE_COLS).op("i32.eq");
    f.if(
      () => {
        const plainVectors = [
          { ptr: pb, offset: 0 },
          { ptr: pb, offset: 16 },
        ];
        if (!c.sibling) {
          bVectors = plainVectors;
          zero(acc);
          pass(P("a"), P("b"), cfg.gather);
          if (c.plus) pass(P("a2"), P("b2"), null);
        }
        const storeRows = (row: (r: number) => void) => {
          for (let r = 0; r < TILE_ROWS; r++) {
            f.i32(r).get(P("rows")).op("i32.lt_s");
            f.if(() => row(r));
          }
        };
        /** Each column of row r that exists, one by one. */
        const byColumn = (r: number, column: (q: number) => void) => {
          for (let q = 0; q < TILE_COLS; q++) {
            f.i32(q).get(P("cols")).op("i32.lt_s");
            f.if(() => column(q));
          }
        };
        if (c.epilogue) {
          const ep = c.epilogue;
          const writer = new KernelWriter(kernel, f, imports, helpers!, inline);
          const row = f.local("i32");
          const col = f.local("i32");
          const sumLocals = ep.sums.map(() => f.local("f64"));
          if (ep.sums.length !== (c.sibling ? 2 : 1))
            throw new Error(`wasm emitter: kernel ${kernel.name}: its epilogue takes ${ep.sums.length} sums`);
          const bound = [
            { name: ep.row, type: "i32" as const, index: row },
            { name: ep.col, type: "i32" as const, index: col },
            ...(ep.group === undefined ? [] : [{ name: ep.group, type: "i32" as const, index: P("group") }]),
            ...ep.sums.map((name, j) => ({ name, type: "f32" as const, index: sumLocals[j]! })),
          ];
          /** The epilogue on columns [q0, q0 + n) of the tile, sum j of output (r, q) in lane q & 3 of vector `at(r, q, j)`. */
          const epilogue = (q0: number, n: number, at: (r: number, q: number, j: number) => number) =>
            storeRows((r) => {
              f.get(P("row0")).i32(r).op("i32.add").set(row);
              for (let q = q0; q < q0 + n; q++) {
                f.i32(q).get(P("cols")).op("i32.lt_s");
                f.if(() => {
                  f.get(P("col0")).i32(q).op("i32.add").set(col);
                  sumLocals.forEach((l, j) =>
                    f
                      .get(at(r, q, j))
                      .simdLane("f32x4.extract_lane", q & 3)
                      .op("f64.promote_f32")
                      .set(l),
                  );
                  writer.statements(bound, ep.body);
                });
              }
            });
          if (!c.sibling) epilogue(0, TILE_COLS, (r, q) => acc[r * 2 + (q >> 2)]!);
          else
            // Gate and up: each column half is a pass with both sums (8 accumulators: no spills), then its epilogue.
            for (let h = 0; h < 2; h++) {
              bVectors = [
                { ptr: pb, offset: 16 * h },
                { ptr: pb2, offset: 16 * h },
              ];
              zero(acc);
              pass(P("a"), P("b"), cfg.gather);
              epilogue(4 * h, 4, (r, _q, j) => acc[r * 2 + j]!);
            }
          return;
        }
        const rowAddress = (r: number) => f.get(P("c")).i32(r).get(P("cRow")).op("i32.mul").op("i32.add");
        f.get(P("cols")).i32(TILE_COLS).op("i32.eq");
        f.if(
          () =>
            storeRows((r) => {
              for (let q = 0; q < 2; q++)
                rowAddress(r)
                  .get(acc[r * 2 + q]!)
                  .simdMem("v128.store", 16 * q);
            }),
          () =>
            // A narrow tile (padded B only): each column that exists, lane by lane.
            storeRows((r) =>
              byColumn(r, (q) => {
                rowAddress(r);
                f.get(acc[r * 2 + (q >> 2)]!).simdLane("f32x4.extract_lane", q & 3);
                f.mem("f32.store", 4 * q);
              }),
            ),
        );
      },
      () => scalarTile(f, P, pa),
    );
  }).index;
}

/** The narrow-tile path (row-major B, plain contractions only): one f32 sum per output, same order of terms. */
function scalarTile(f: FunctionBody, P: (n: TileParam) => number, pa: readonly number[]): void {
  const r = f.local("i32");
  const q = f.local("i32");
  const s = f.local("i32");
  const sum = f.local("f32");
  const pA = f.local("i32");
  const pB = f.local("i32");
  forRange(
    f,
    r,
    () => f.get(P("rows")),
    () => {
      forRange(
        f,
        q,
        () => f.get(P("cols")),
        () => {
          f.f32(0).set(sum);
          // Row r's first A element: pa[r] (rows are clamped the same way as the vector path).
          f.get(pa[0]!).get(r).get(P("aRow")).op("i32.mul").op("i32.add").set(pA);
          f.get(P("b")).get(q).i32(2).op("i32.shl").op("i32.add").set(pB);
          forRange(
            f,
            s,
            () => f.get(P("steps")),
            () => {
              f.get(sum).get(pA).mem("f32.load").get(pB).mem("f32.load").op("f32.mul").op("f32.add").set(sum);
              f.get(pA).get(P("aStep")).op("i32.add").set(pA);
              f.get(pB).get(P("bStep")).op("i32.add").set(pB);
            },
          );
          f.get(P("c")).get(r).get(P("cRow")).op("i32.mul").op("i32.add").get(q).i32(2).op("i32.shl").op("i32.add");
          f.get(sum).mem("f32.store");
        },
      );
    },
  );
}

export function loopWhile(f: FunctionBody, cond: () => void, body: () => void): void {
  f.block((exit: Label) =>
    f.loop((again) => {
      cond();
      f.op("i32.eqz").brIf(exit);
      body();
      f.br(again);
    }),
  );
}

/** for (v = 0; v < end; v++) */
export function forRange(f: FunctionBody, v: number, end: () => void, body: () => void): void {
  f.i32(0).set(v);
  loopWhile(
    f,
    () => {
      f.get(v);
      end();
      f.op("i32.lt_s");
    },
    () => {
      body();
      f.get(v).i32(1).op("i32.add").set(v);
    },
  );
}
