/**
 * The vector loop of an elementwise kernel on the wasm target: four items per
 * step in f32x4 / i32x4 lanes, with the scalar emitter (kernel.ts) for the
 * items before the first multiple of 4 and after the last whole step of four
 * below the item count. Which kernels qualify, how each value varies over the
 * lanes, and why the lanes equal the scalar emitter's bits: vectorise.ts.
 *
 * Lanes hold f32 values as f32 (the scalar emitter's f64, rounded where it
 * rounds) and integers and bools as the scalar emitter's i32 (a bool is the
 * loaded byte or 0 / 1; comparisons give masks, turned into 0 / 1). Uniform
 * and affine values are the scalar writer's own locals, computed for lane 0.
 */
import { bin, c, v, type Expr, type Kernel, type ScalarType, type Stmt } from "../../kernel_ir";
import { BINARY_OPS } from "../../kernel_ops_binary";
import { exprType, isF32, renderWasmKernel, SHIFT, type KernelWriter, type WasmMemoryKind } from "./kernel";
import type { SimdOp } from "./opcodes";
import { converted, itemSkeleton, LaneEnv, operandType, unaryInLanes, type Lanes } from "./vectorise";

const ZERO = [0, 0, 0, 0] as const;

/** Float ops with an f32x4 form (operands converted to f32 first). */
const F32_OPS: Partial<Record<string, SimdOp>> = {
  add: "f32x4.add",
  sub: "f32x4.sub",
  mul: "f32x4.mul",
  div: "f32x4.div",
  min: "f32x4.min",
  max: "f32x4.max",
  eq: "f32x4.eq",
  ne: "f32x4.ne",
  lt: "f32x4.lt",
  le: "f32x4.le",
  gt: "f32x4.gt",
  ge: "f32x4.ge",
};

/** Integer (and bool) ops with an i32x4 form: [signed, unsigned]. */
const I32_OPS: Partial<Record<string, readonly [SimdOp, SimdOp]>> = {
  add: ["i32x4.add", "i32x4.add"],
  sub: ["i32x4.sub", "i32x4.sub"],
  mul: ["i32x4.mul", "i32x4.mul"],
  min: ["i32x4.min_s", "i32x4.min_u"],
  max: ["i32x4.max_s", "i32x4.max_u"],
  eq: ["i32x4.eq", "i32x4.eq"],
  ne: ["i32x4.ne", "i32x4.ne"],
  lt: ["i32x4.lt_s", "i32x4.lt_u"],
  le: ["i32x4.le_s", "i32x4.le_u"],
  gt: ["i32x4.gt_s", "i32x4.gt_u"],
  ge: ["i32x4.ge_s", "i32x4.ge_u"],
  and: ["v128.and", "v128.and"],
  or: ["v128.or", "v128.or"],
  bitAnd: ["v128.and", "v128.and"],
  bitOr: ["v128.or", "v128.or"],
  bitXor: ["v128.xor", "v128.xor"],
  shl: ["i32x4.shl", "i32x4.shl"],
  shr: ["i32x4.shr_s", "i32x4.shr_u"],
};

class VectorLoop {
  private readonly env: LaneEnv;
  private readonly vectors = new Map<string, number>();
  private gatherIndex: number | null = null;
  private boolBytes: number | null = null;
  private stridedAddress: number | null = null;

  constructor(
    private readonly kernel: Kernel,
    private readonly w: KernelWriter,
  ) {
    this.env = new LaneEnv(kernel);
  }

  run(): void {
    const { w, kernel } = this;
    const fb = w.fb;
    const skeleton = itemSkeleton(kernel.body);
    if (typeof skeleton === "string") throw new Error(`wasm vector loop: kernel ${kernel.name}: ${skeleton}`);
    const gid = w.item;
    const end = w.startThreads();
    // Vector steps run while all four items are below both the range's end and the item count.
    const stepEnd = fb.local("i32");
    const count = fb.local("i32");
    w.scalarExpr(skeleton.count, "i32");
    fb.set(count);
    fb.get(end).get(count).get(end).get(count).op("i32.lt_s").op("select").set(stepEnd);
    // Scalar items up to a multiple of 4 (a range may start anywhere when workgroups are not multiples of 4).
    w.threads(() => fb.get(gid).get(end).op("i32.ge_u").get(gid).i32(3).op("i32.and").op("i32.eqz").op("i32.or"));
    this.env.bind(skeleton.item, "i32", { kind: "affine", stride: 1, aligned: true, nonneg: true });
    fb.block((exit) =>
      fb.loop((again) => {
        fb.get(gid).i32(4).op("i32.add").get(stepEnd).op("i32.gt_s").brIf(exit);
        w.scalarStmt(kernel.body[0]!);
        for (const s of kernel.body.slice(2)) this.stmt(s);
        fb.get(gid).i32(4).op("i32.add").set(gid);
        fb.br(again);
      }),
    );
    w.threads(() => fb.get(gid).get(end).op("i32.ge_u"));
  }

  private lanes(e: Expr): Lanes {
    const l = this.env.lanes(e);
    if (typeof l === "string") throw new Error(`wasm vector loop: kernel ${this.kernel.name}: ${l}`);
    return l;
  }

  private stmt(s: Stmt): void {
    const fb = this.w.fb;
    if (s.kind === "comment") return;
    if (s.kind === "let") {
      const c = converted(this.lanes(s.init), exprType(s.init), s.type);
      if (typeof c === "string") throw new Error(`wasm vector loop: kernel ${this.kernel.name}: ${c}`);
      const l: Lanes = s.mutable ? { kind: "varying", exact: true } : c;
      if (l.kind === "varying") {
        this.vec(s.init, s.type);
        let local = this.vectors.get(s.name);
        if (local === undefined) this.vectors.set(s.name, (local = fb.local("v128")));
        fb.set(local);
      } else this.w.scalarStmt(s);
      this.env.bind(s.name, s.type, l);
      return;
    }
    if (s.kind === "assign") {
      // f32 lanes are rounded already (the scalar emitter rounds on assignment too).
      this.vec(s.value, this.env.typeOf(s.name));
      fb.set(this.vectors.get(s.name)!);
      return;
    }
    if (s.kind === "for") return this.loop(s);
    if (s.kind !== "store") throw new Error(`wasm vector loop: kernel ${this.kernel.name}: ${s.kind} statement`);
    const b = this.w.buffer(s.buffer);
    this.address(b.index, b.type, s.index);
    this.vec(s.value, b.type);
    if (b.type === "bool") {
      // The low byte of each lane into bytes 0..3 (i32.store8 keeps the low byte too), stored as one 32-bit lane.
      const bytes = (this.boolBytes ??= fb.local("v128"));
      fb.tee(bytes)
        .get(bytes)
        .shuffle([0, 4, 8, 12, ...Array<number>(12).fill(0)]);
      fb.simdMemLane("v128.store32_lane", 0);
    } else fb.simdMem("v128.store");
  }

  /** A loop with item-independent bounds: its variable is the scalar writer's, as in the scalar emitter's `for`. */
  private loop(s: Stmt & { kind: "for" }): void {
    const { w } = this;
    const fb = w.fb;
    const index = v(s.var, "i32");
    w.scalarStmt({ kind: "let", name: s.var, type: "i32", init: s.start });
    this.env.bind(s.var, "i32", { kind: "uniform", exact: true });
    fb.block((exit) =>
      fb.loop((again) => {
        w.scalarExpr(bin("ge", index, s.end, "bool"), "bool");
        fb.brIf(exit);
        for (const b of s.body) this.stmt(b);
        w.scalarStmt({ kind: "assign", name: s.var, value: bin("add", index, s.step ?? c(1), "i32") });
        fb.br(again);
      }),
    );
  }

  /** Pushes the byte address of lane 0 of an index (affine, stride 1). */
  private address(base: number, type: ScalarType, index: Expr): void {
    const fb = this.w.fb;
    fb.get(base);
    this.w.scalarExpr(index, "i32");
    if (SHIFT[type]) fb.i32(SHIFT[type]).op("i32.shl");
    fb.op("i32.add");
  }

  /** Pushes the four lanes of `e` converted to `t`. */
  private vec(e: Expr, t: ScalarType): void {
    const fb = this.w.fb;
    const l = this.lanes(e);
    if (l.kind === "uniform") {
      this.w.scalarExpr(e, t);
      if (isF32(t)) fb.op("f32.demote_f64").simd("f32x4.splat");
      else fb.simd("i32x4.splat");
      return;
    }
    if (l.kind === "affine") {
      this.w.scalarExpr(e, "i32");
      fb.simd("i32x4.splat")
        .i32x4([0, l.stride, 2 * l.stride, 3 * l.stride])
        .simd("i32x4.add");
      return this.convert("i32", t);
    }
    this.varying(e);
    this.convert(exprType(e), t);
  }

  /** Converts the lanes on the stack as the scalar emitter's `convert` (only the exact casts the plan allows). */
  private convert(from: ScalarType, to: ScalarType): void {
    const fb = this.w.fb;
    if (from === to || (isF32(from) && isF32(to))) return;
    if (to === "bool") {
      if (isF32(from)) fb.simd("f32x4.abs").i32x4(ZERO).simd("f32x4.gt");
      else fb.i32x4(ZERO).simd("i32x4.ne");
      fb.simd("i32x4.neg");
      return;
    }
    if (isF32(to)) {
      fb.simd(from === "i32" ? "f32x4.convert_i32x4_s" : "f32x4.convert_i32x4_u");
      return;
    }
    if (isF32(from) && to !== "f64") return this.laneByLane(1, from, to, () => this.w.convert(from, to)); // ToInt32
    if (isF32(from) || from === "f64" || to === "f64")
      throw new Error(`wasm vector loop: kernel ${this.kernel.name}: no vector cast from ${from} to ${to}`);
  }

  private varying(e: Expr): void {
    const fb = this.w.fb;
    switch (e.kind) {
      case "var": {
        const local = this.vectors.get(e.name);
        if (local === undefined) throw new Error(`wasm vector loop: ${e.name} has no vector local`);
        fb.get(local);
        return;
      }
      case "load":
        return this.load(e);
      case "unary": {
        const t = e.type;
        this.vec(e.arg, t);
        if (!unaryInLanes(e.op, t)) return this.laneByLane(1, t, t, () => this.w.unary(e.op, t));
        if (e.op === "not") fb.i32x4(ZERO).simd("i32x4.eq").simd("i32x4.neg");
        else if (e.op === "bitNot") fb.simd("v128.not");
        else if (e.op === "sqrt") fb.simd("f32x4.sqrt");
        else if (e.op === "neg") fb.simd(isF32(t) ? "f32x4.neg" : "i32x4.neg");
        else if (e.op === "abs") fb.simd(isF32(t) ? "f32x4.abs" : "i32x4.abs");
        else throw new Error(`wasm vector loop: unary ${e.op}`);
        return;
      }
      case "binary": {
        const op = operandType(e);
        const shift = e.op === "shl" || e.op === "shr";
        this.vec(e.lhs, op);
        if (shift && this.lanes(e.rhs).kind === "uniform") this.w.scalarExpr(e.rhs, op);
        else this.vec(e.rhs, op);
        const code = isF32(op) ? F32_OPS[e.op] : I32_OPS[e.op]?.[op === "u32" ? 1 : 0];
        if (!code || (shift && this.lanes(e.rhs).kind !== "uniform")) {
          return this.laneByLane(2, op, e.type, () => this.w.applyBinary(e, op));
        }
        fb.simd(code);
        if (BINARY_OPS[e.op].kind === "compare") fb.simd("i32x4.neg"); // mask -> 0 / 1
        return;
      }
      case "select":
        this.vec(e.onTrue, e.type);
        this.vec(e.onFalse, e.type);
        this.vec(e.cond, "bool");
        fb.i32x4(ZERO).simd("i32x4.ne").simd("v128.bitselect");
        return;
      case "cast":
        return this.vec(e.arg, e.type);
      default:
        throw new Error(`wasm vector loop: no vector form for ${e.kind}`);
    }
  }

  /**
   * Runs a scalar op lane by lane on the `count` vectors on the stack (of `operand` lanes): each
   * lane's operands as the scalar emitter holds them (f32 promoted to f64), the result rounded
   * into an f32 lane as a bind would round it, or an i32 lane.
   */
  private laneByLane(count: 1 | 2, operand: ScalarType, result: ScalarType, apply: () => void): void {
    const fb = this.w.fb;
    const args = Array.from({ length: count }, () => fb.local("v128"));
    for (let a = count - 1; a >= 0; a--) fb.set(args[a]!);
    fb.i32x4(ZERO);
    for (let l = 0; l < 4; l++) {
      for (const a of args) {
        if (isF32(operand)) fb.get(a).simdLane("f32x4.extract_lane", l).op("f64.promote_f32");
        else fb.get(a).simdLane("i32x4.extract_lane", l);
      }
      apply();
      if (isF32(result)) fb.op("f32.demote_f64").simdLane("f32x4.replace_lane", l);
      else fb.simdLane("i32x4.replace_lane", l);
    }
  }

  private load(e: Expr & { kind: "load" }): void {
    const fb = this.w.fb;
    const b = this.w.buffer(e.buffer);
    const index = this.lanes(e.index);
    if (index.kind === "affine" && index.stride === 1) {
      this.address(b.index, b.type, e.index);
      if (b.type === "bool")
        fb.simdMem("v128.load32_zero").simd("i16x8.extend_low_i8x16_u").simd("i32x4.extend_low_i16x8_u");
      else fb.simdMem("v128.load");
      return;
    }
    const bytes = 1 << SHIFT[b.type];
    if (index.kind === "affine" && index.stride > 0 && index.stride * bytes * 3 < 2 ** 31) {
      // A strided load (a transpose): lane l at a constant offset from lane 0's address.
      const at = (this.stridedAddress ??= fb.local("i32"));
      this.address(b.index, b.type, e.index);
      fb.set(at).i32x4(ZERO);
      for (let l = 0; l < 4; l++) this.laneLoad(b.type, l, () => fb.get(at), l * index.stride * bytes);
      return;
    }
    // A gather: four lane loads.
    const lanes = (this.gatherIndex ??= fb.local("v128"));
    this.vec(e.index, "i32");
    fb.set(lanes);
    fb.i32x4(ZERO);
    for (let l = 0; l < 4; l++)
      this.laneLoad(b.type, l, () => {
        fb.get(b.index).get(lanes).simdLane("i32x4.extract_lane", l);
        if (SHIFT[b.type]) fb.i32(SHIFT[b.type]).op("i32.shl");
        fb.op("i32.add");
      });
  }

  /** Loads one element at the address `address` pushes (plus `offset` bytes) into lane `l` of the vector on the stack. */
  private laneLoad(type: ScalarType, l: number, address: () => void, offset = 0): void {
    const fb = this.w.fb;
    address();
    if (isF32(type)) fb.mem("f32.load", offset).simdLane("f32x4.replace_lane", l);
    else fb.mem(type === "bool" ? "i32.load8_u" : "i32.load", offset).simdLane("i32x4.replace_lane", l);
  }
}

/**
 * The wasm module of a kernel `vectorisable` accepts: the scalar emitter's
 * module (same interface) with its thread loop replaced by the vector loop.
 */
export function renderVectorKernel(kernel: Kernel, memory: WasmMemoryKind): Uint8Array<ArrayBuffer> {
  return renderWasmKernel(kernel, memory, (w) => new VectorLoop(kernel, w).run());
}
