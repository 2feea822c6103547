/**
 * The kernel IR: a small, target-independent description of GPU-style kernels.
 * Lowering turns a Program into kernels written in this IR; emitters (WGSL, CUDA,
 * JS) render it with a table from op to target syntax plus a few target hooks.
 * Scheduling choices (workgroup size, tiling, vector width) are decided before
 * this IR is built (see codegen/schedule.ts), never inside an emitter.
 *
 * Thread indexing: a kernel is launched on a 1-D count of workgroups (`grid`, an
 * expression of the program's named dims). Runtimes fold that count into the
 * device's grid limits (e.g. WebGPU's 65535 per dimension -> (x, y)), and the
 * emitters compute the `groupLinear` / `globalLinear` builtins from the folded
 * ids, so kernels never see the folding. Kernels guard their own tail.
 */
import { dimToString, evalDim, type Dim } from "../dsl/dims";

/** Element types a kernel computes with. `f64` only exists on the CPU targets (js, wasm). */
export type ScalarType = "f32" | "f64" | "f16" | "i32" | "u32" | "bool";

/**
 * A size known at launch time: a literal, a named dim, or arithmetic on those.
 * It is the tracer's dim expression (dsl/dims.ts): one expression language for
 * shapes, buffer sizes and launch grids.
 */
export type SizeExpr = Dim;

// The elementwise ops and their typing and spelling per target are one table (kernel_ops.ts).
import type { UnaryOp } from "./kernel_ops";
import type { BinaryOp } from "./kernel_ops_binary";
export type { BinaryOp, UnaryOp };

/** Builtin thread coordinates, typed u32 (lowering casts them to i32 right away). */
export type Builtin =
  | "globalLinear" // groupLinear * workgroupSize + localLinear
  | "groupLinear" // linear workgroup index after unfolding the grid
  | "localLinear" // thread index inside the workgroup
  | "numGroupsLinear"; // total workgroups launched

/** Helper functions an emitter provides in its prelude (same semantics on every target). */
export type Intrinsic =
  | "threefry2x32_0" // (k0, k1, c0, c1: u32) -> u32: first word of Threefry-2x32-20
  | "threefry2x32_1" // second word
  | "bitsToUniform" // (bits: u32) -> float in [0,1): (bits >> 8) * 2^-24 (f32) or bits * 2^-32 (f64)
  | "isNan" // (x: float) -> bool, by bit pattern where a shader compiler may assume x == x
  | "opaque"; // (x) -> x: the same value, computed at run time (a shader compiler must not constant-evaluate it)

export type Expr =
  | { readonly kind: "const"; readonly type: ScalarType; readonly value: number }
  | { readonly kind: "var"; readonly name: string; readonly type: ScalarType }
  | { readonly kind: "size"; readonly name: string; readonly type: "i32" } // value of a named dim
  | { readonly kind: "builtin"; readonly name: Builtin; readonly type: "u32" }
  | { readonly kind: "load"; readonly buffer: string; readonly index: Expr; readonly type: ScalarType }
  | { readonly kind: "sharedLoad"; readonly array: string; readonly index: Expr; readonly type: ScalarType }
  | { readonly kind: "unary"; readonly op: UnaryOp; readonly arg: Expr; readonly type: ScalarType }
  | {
      readonly kind: "binary";
      readonly op: BinaryOp;
      readonly lhs: Expr;
      readonly rhs: Expr;
      readonly type: ScalarType;
    }
  | {
      readonly kind: "select";
      readonly cond: Expr;
      readonly onTrue: Expr;
      readonly onFalse: Expr;
      readonly type: ScalarType;
    }
  | { readonly kind: "cast"; readonly arg: Expr; readonly type: ScalarType }
  | { readonly kind: "call"; readonly fn: Intrinsic; readonly args: readonly Expr[]; readonly type: ScalarType };

export type Stmt =
  | {
      readonly kind: "let";
      readonly name: string;
      readonly type: ScalarType;
      readonly init: Expr;
      readonly mutable?: boolean;
    }
  | { readonly kind: "assign"; readonly name: string; readonly value: Expr }
  | { readonly kind: "store"; readonly buffer: string; readonly index: Expr; readonly value: Expr }
  | { readonly kind: "sharedStore"; readonly array: string; readonly index: Expr; readonly value: Expr }
  /** Integer atomic add (i32/u32 buffers only); float atomics are never emitted by default. */
  | { readonly kind: "atomicAdd"; readonly buffer: string; readonly index: Expr; readonly value: Expr }
  | { readonly kind: "if"; readonly cond: Expr; readonly then: readonly Stmt[]; readonly else?: readonly Stmt[] }
  /** for (let v = start; v < end; v += step) — `v` is i32. */
  | {
      readonly kind: "for";
      readonly var: string;
      readonly start: Expr;
      readonly end: Expr;
      readonly step?: Expr;
      readonly body: readonly Stmt[];
    }
  | { readonly kind: "barrier" } // workgroup-wide barrier with shared-memory visibility
  | { readonly kind: "return" }
  | { readonly kind: "comment"; readonly text: string };

export interface KernelParam {
  readonly name: string;
  readonly type: ScalarType;
  readonly access: "read" | "readWrite";
  /** Set when the kernel uses `atomicAdd` on this buffer. */
  readonly atomic?: boolean;
}

export interface SharedArray {
  readonly name: string;
  readonly type: ScalarType;
  readonly length: number;
}

/**
 * A GEMM-shaped kernel, described for targets with contraction micro-kernels
 * of their own (the wasm target's SIMD128 tiles). The kernel's `body` stays the
 * definition every other target renders; a target using this computes the
 * same outputs, its launch's workgroups [0, grid) covering the output tiles of
 * `tileRows` x `tileCols` in an order of its choosing. Params are named as in
 * the kernel; sizes are expressions of the kernel's `sizes`.
 * - `dense`: out[i, n] = sum_k a[i, k] * b[k, n] (rows x depth times depth x cols, row-major);
 * - `grouped`: rows of `a` come in contiguous groups (`groupSizes`, `groups` of them),
 *   out[r, n] = sum_k a[r, k] * b[g(r), k, n];
 * - `groupedWeightGrad`: out[g, k, n] = sum over the rows r of group g of a[r, k] * b[r, n]
 *   (`rows` is the row count of a and b, `depth` = k's extent).
 *
 * `bLayout` says how `b` is stored: "rowMajor" (the default) as above, or
 * "panels": column panels of `tileCols`, each contiguous over the contraction
 * (depth, or rows for groupedWeightGrad) and zero past `cols`, so element
 * (g, k, n) of b is at ((g * ceil(cols / tileCols) + floor(n / tileCols)) * depth + k) * tileCols
 * + n % tileCols (g = 0 when b has no group axis). A lowering packs b this way
 * (`panelOperand` in lower/kernels/contraction.ts) for targets whose
 * micro-kernels stream B.
 */
export interface Contraction {
  readonly kind: "dense" | "grouped" | "groupedWeightGrad";
  readonly a: string;
  readonly b: string;
  /** Where the sum is stored (row-major, like the kernel's output); absent when `epilogue` stores. */
  readonly out?: string;
  /**
   * The token gather fused into A's load (grouped kinds): row r of A (for
   * groupedWeightGrad, contraction row r) is row clamp(aIndex.buffer[r], 0, aIndex.rows - 1)
   * of `a`, which has `aIndex.rows` rows (an i32 buffer; indices proven in range or checks off).
   */
  readonly aIndex?: { readonly buffer: string; readonly rows: SizeExpr };
  /** A second sum over the same A and tile: b2 (same layout as b) — gate and up projections. */
  readonly sibling?: { readonly b: string };
  /** A second product summed into the same sum, over the same depth: out = a b + plus.a plus.b (dX of gate + up). */
  readonly plus?: { readonly a: string; readonly b: string };
  /** Run per in-bounds output on the finished sums instead of storing them (activation, SwiGLU, gate weight). */
  readonly epilogue?: ContractionEpilogue;
  readonly groupSizes?: string;
  readonly rows: SizeExpr;
  readonly cols: SizeExpr;
  readonly depth: SizeExpr;
  readonly groups?: SizeExpr;
  readonly tileRows: number;
  readonly tileCols: number;
  readonly bLayout?: "rowMajor" | "panels";
}

/**
 * A contraction's epilogue: kernel-IR statements run once per in-bounds output,
 * with `row`, `col` (and `group`, for groupedWeightGrad: g) bound as i32
 * variables to the output's position and `sums` (f32 variables) to its sums,
 * in order (the sum, then the sibling's). The body stores the results itself;
 * it reads no other variable of the kernel's body.
 */
export interface ContractionEpilogue {
  readonly row: string;
  readonly col: string;
  readonly group?: string;
  readonly sums: readonly string[];
  readonly body: readonly Stmt[];
}

/**
 * A kernel that only copies a plain row-major f32 buffer `source` ([groups, depth, cols])
 * into column panels `panels` ([groups, ceil(cols / tileCols), depth, tileCols], zero past
 * the last column): what `panelOperand` writes, described for targets that render the copy
 * with vector loads and stores (wasm). The kernel's body computes the same values (one
 * item, a panel row, per thread; `workgroupSize` items per workgroup), for other targets.
 */
export interface PanelPack {
  readonly source: string;
  readonly panels: string;
  readonly groups: SizeExpr;
  readonly depth: SizeExpr;
  readonly cols: SizeExpr;
  readonly tileCols: number;
}

/** One kernel, independent of any target. */
export interface Kernel {
  readonly name: string;
  /** Storage buffers, in binding order. */
  readonly params: readonly KernelParam[];
  /** Named dims the kernel reads (passed as i32 uniforms / arguments), in order. */
  readonly sizes: readonly string[];
  readonly shared: readonly SharedArray[];
  /** Threads per workgroup (1-D). */
  readonly workgroupSize: number;
  readonly body: readonly Stmt[];
  /** Human-readable provenance: the Program variables this kernel computes. */
  readonly comment?: string;
  /** Set on GEMM-shaped kernels (see Contraction); targets without micro-kernels ignore it. */
  readonly contraction?: Contraction;
  /** Set on panel-packing copies (see PanelPack); targets without a vector copy run the body. */
  readonly pack?: PanelPack;
  /**
   * The workgroup count of its launch, when known (set by lowering). Range
   * analysis (`codegen/analysis/ranges.ts`) bounds the thread builtins with it.
   */
  readonly grid?: SizeExpr;
}

/** A buffer the bundle allocates. Sizes count elements. */
export interface BufferDecl {
  readonly name: string;
  readonly type: ScalarType;
  readonly size: SizeExpr;
  readonly role: "input" | "output" | "temp" | "const";
  /** For consts: the initial contents. */
  readonly init?: readonly number[];
}

/** One launch of the schedule: which kernel, how many workgroups, which buffer for each param. */
export interface Launch {
  readonly kernel: string;
  /** Number of workgroups (1-D; runtimes fold it into the device's limits). */
  readonly grid: SizeExpr;
  /** Kernel param name -> bundle buffer name. */
  readonly bindings: Readonly<Record<string, string>>;
  /**
   * Set on a launch whose results depend only on bundle inputs (`inputs`, buffer
   * names) and go to buffers no other launch writes (packed weight panels): a
   * runtime that keeps buffers across runs may skip it while every one of those
   * inputs holds the same bytes as when it last ran over those buffers.
   */
  readonly reusable?: { readonly inputs: readonly string[] };
}

export type Target = "wgsl" | "cuda" | "js" | "wasm";

/**
 * Run-time index checks (optional): kernels that read or scatter through
 * data-dependent indices report the first bad one in `buffer` (i32[3]:
 * [check number + 1, offending index, axis size]; zeroed by the bundle's first
 * launch). After the schedule, a runtime that reads `buffer[0] = n > 0` fails
 * with `messages[n - 1]`, `{index}` and `{size}` replaced by buffer[1] and buffer[2].
 * Runtimes that ignore this still run correctly (indices are clamped / skipped).
 */
export interface IndexChecks {
  readonly buffer: string;
  readonly messages: readonly string[];
}

/**
 * A size the bundle's target cannot exceed: a runtime evaluates `size` with the
 * bound dims before running and fails with `what` when it is over `limit`
 * (see `codegen/analysis/limits.ts`). Static sizes are checked by `compile`.
 */
export interface SizeLimit {
  readonly size: SizeExpr;
  readonly limit: number;
  /** What the size is: "buffer v3 (f32[T,65536]) elements", "index values of kernel k2_reduce (reduceSum)". */
  readonly what: string;
  /** Why the limit exists: "WGSL index math is i32". */
  readonly why: string;
}

/** What `compile(program, { target })` returns: everything needed to run the program with no moeforge at run time. */
export interface KernelBundle {
  readonly target: Target;
  /** Named dims, in the order size uniforms are laid out. */
  readonly dims: readonly string[];
  readonly kernels: readonly (Kernel & { readonly source: string })[];
  readonly buffers: readonly BufferDecl[];
  readonly schedule: readonly Launch[];
  /** Buffer names of the program's inputs and outputs, in order. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** Present when kernels check data-dependent indices (see IndexChecks). */
  readonly checks?: IndexChecks;
  /** Sizes that depend on named dims and must stay below a limit of the target (checked when dims are bound). */
  readonly limits?: readonly SizeLimit[];
}

// ---- walking kernel IR ----

/** The direct operands of an expression, left to right. */
export function children(e: Expr): readonly Expr[] {
  switch (e.kind) {
    case "load":
    case "sharedLoad":
      return [e.index];
    case "unary":
    case "cast":
      return [e.arg];
    case "binary":
      return [e.lhs, e.rhs];
    case "select":
      return [e.cond, e.onTrue, e.onFalse];
    case "call":
      return e.args;
    case "const":
    case "var":
    case "size":
    case "builtin":
      return [];
  }
}

/** Calls `visit` on `e` and every sub-expression, parents first, operands left to right. */
export function walkExpr(e: Expr, visit: (x: Expr) => void): void {
  visit(e);
  for (const child of children(e)) walkExpr(child, visit);
}

/**
 * Rebuilds `e` bottom-up: operands are mapped first, then `f` sees the node
 * with its new operands and returns it or a replacement. Unchanged subtrees
 * keep their identity.
 */
export function mapExpr(e: Expr, f: (x: Expr) => Expr): Expr {
  const kids = children(e);
  const mapped = kids.map((k) => mapExpr(k, f));
  const same = mapped.every((m, i) => m === kids[i]);
  return f(same ? e : withChildren(e, mapped));
}

function withChildren(e: Expr, k: readonly Expr[]): Expr {
  switch (e.kind) {
    case "load":
    case "sharedLoad":
      return { ...e, index: k[0]! };
    case "unary":
    case "cast":
      return { ...e, arg: k[0]! };
    case "binary":
      return { ...e, lhs: k[0]!, rhs: k[1]! };
    case "select":
      return { ...e, cond: k[0]!, onTrue: k[1]!, onFalse: k[2]! };
    case "call":
      return { ...e, args: k };
    case "const":
    case "var":
    case "size":
    case "builtin":
      return e;
  }
}

/**
 * Rebuilds a kernel body: every expression goes through `mapExpr(_, expr)`,
 * then `stmt` (default: identity) sees each rebuilt statement and returns the
 * statements to put in its place (none, itself, or several).
 */
export function mapBody(
  body: readonly Stmt[],
  expr: (x: Expr) => Expr,
  stmt: (s: Stmt) => readonly Stmt[] = (s) => [s],
): Stmt[] {
  const m = (e: Expr) => mapExpr(e, expr);
  return body.flatMap((s): readonly Stmt[] => {
    switch (s.kind) {
      case "let":
        return stmt({ ...s, init: m(s.init) });
      case "assign":
        return stmt({ ...s, value: m(s.value) });
      case "store":
      case "sharedStore":
      case "atomicAdd":
        return stmt({ ...s, index: m(s.index), value: m(s.value) });
      case "if":
        return stmt({
          ...s,
          cond: m(s.cond),
          then: mapBody(s.then, expr, stmt),
          ...(s.else ? { else: mapBody(s.else, expr, stmt) } : {}),
        });
      case "for":
        return stmt({
          ...s,
          start: m(s.start),
          end: m(s.end),
          ...(s.step ? { step: m(s.step) } : {}),
          body: mapBody(s.body, expr, stmt),
        });
      case "barrier":
      case "return":
      case "comment":
        return stmt(s);
    }
  });
}

/** Calls `visit` on every expression of `body` (nested blocks included), in program order. */
export function walkBodyExprs(body: readonly Stmt[], visit: (x: Expr) => void): void {
  for (const s of body) {
    switch (s.kind) {
      case "let":
        walkExpr(s.init, visit);
        break;
      case "assign":
        walkExpr(s.value, visit);
        break;
      case "store":
      case "sharedStore":
      case "atomicAdd":
        walkExpr(s.index, visit);
        walkExpr(s.value, visit);
        break;
      case "if":
        walkExpr(s.cond, visit);
        walkBodyExprs(s.then, visit);
        if (s.else) walkBodyExprs(s.else, visit);
        break;
      case "for":
        walkExpr(s.start, visit);
        walkExpr(s.end, visit);
        if (s.step) walkExpr(s.step, visit);
        walkBodyExprs(s.body, visit);
        break;
      case "barrier":
      case "return":
      case "comment":
        break;
    }
  }
}

// ---- small constructors, so lowering code reads like the math ----

export const c = (value: number, type: ScalarType = "i32"): Expr => ({ kind: "const", type, value });
export const v = (name: string, type: ScalarType = "i32"): Expr => ({ kind: "var", name, type });
export const size = (name: string): Expr => ({ kind: "size", name, type: "i32" });
export const builtin = (name: Builtin): Expr => ({ kind: "builtin", name, type: "u32" });
export const load = (buffer: string, index: Expr, type: ScalarType): Expr => ({ kind: "load", buffer, index, type });
export const bin = (op: BinaryOp, lhs: Expr, rhs: Expr, type: ScalarType): Expr => ({
  kind: "binary",
  op,
  lhs,
  rhs,
  type,
});
export const un = (op: UnaryOp, arg: Expr, type: ScalarType): Expr => ({ kind: "unary", op, arg, type });
export const cast = (arg: Expr, type: ScalarType): Expr => ({ kind: "cast", arg, type });
export const select = (cond: Expr, onTrue: Expr, onFalse: Expr, type: ScalarType): Expr => ({
  kind: "select",
  cond,
  onTrue,
  onFalse,
  type,
});

/** Evaluates a SizeExpr for concrete dims. */
export function evalSize(e: SizeExpr, dims: ReadonlyMap<string, number>): number {
  return evalDim(e, dims);
}

/** Renders a SizeExpr as text (manifests, comments). */
export function sizeToText(e: SizeExpr): string {
  return dimToString(e);
}
