/**
 * A function body under construction: typed locals and instructions appended
 * as bytes, with immediates encoded from the opcode tables. Structured control
 * (block / loop / if) is tracked so `br` depths come from label handles, not
 * hand counting.
 */
import { sleb, uleb } from "./leb128";
import {
  ATOMIC_OP,
  BLOCK_EMPTY,
  MISC_OP,
  OP,
  PREFIX,
  SIMD_OP,
  VALTYPE,
  type AtomicOp,
  type MiscOp,
  type Op,
  type SimdOp,
  type ValType,
} from "./opcodes";

/** A structured-control label: `br(label)` jumps to it. */
export interface Label {
  readonly depth: number;
}

/** Natural alignment (log2 bytes) of memory accesses by opcode. */
const ALIGN: Partial<Record<Op | SimdOp | AtomicOp, number>> = {
  "i32.load": 2,
  "f32.load": 2,
  "f64.load": 3,
  "i32.load8_u": 0,
  "i32.store": 2,
  "f32.store": 2,
  "f64.store": 3,
  "i32.store8": 0,
  "v128.load": 4,
  "v128.store": 4,
  "v128.load32_splat": 2,
  "v128.load32_zero": 2,
  "v128.store32_lane": 0,
  "i32.atomic.rmw.add": 2,
};

export class FunctionBody {
  readonly bytes: number[] = [];
  /** Types of the declared locals (after the params). */
  private readonly localTypes: ValType[] = [];
  /** Open structured blocks, innermost last. */
  private depth = 0;

  constructor(readonly params: readonly ValType[]) {}

  /** A new local of `type`; returns its index. */
  local(type: ValType): number {
    this.localTypes.push(type);
    return this.params.length + this.localTypes.length - 1;
  }

  op(name: Op): this {
    this.bytes.push(OP[name]);
    return this;
  }

  /** A load or store with its natural alignment and a constant byte offset. */
  mem(name: Op, offset = 0): this {
    this.bytes.push(OP[name], ...uleb(ALIGN[name]!), ...uleb(offset));
    return this;
  }

  misc(name: MiscOp): this {
    this.bytes.push(PREFIX.misc, ...uleb(MISC_OP[name]));
    return this;
  }

  simd(name: SimdOp): this {
    this.bytes.push(PREFIX.simd, ...uleb(SIMD_OP[name]));
    return this;
  }

  /** A SIMD load or store (v128.load, v128.store, v128.load32_splat) at a constant byte offset. */
  simdMem(name: SimdOp, offset = 0): this {
    this.bytes.push(PREFIX.simd, ...uleb(SIMD_OP[name]), ...uleb(ALIGN[name]!), ...uleb(offset));
    return this;
  }

  /** A SIMD lane op (extract_lane / replace_lane) with its lane index. */
  simdLane(name: SimdOp, lane: number): this {
    this.bytes.push(PREFIX.simd, ...uleb(SIMD_OP[name]), lane);
    return this;
  }

  /** A SIMD lane load or store (v128.store32_lane) at a constant byte offset, with its lane index. */
  simdMemLane(name: SimdOp, lane: number, offset = 0): this {
    this.bytes.push(PREFIX.simd, ...uleb(SIMD_OP[name]), ...uleb(ALIGN[name]!), ...uleb(offset), lane);
    return this;
  }

  /** `v128.const` of four i32 lanes. */
  i32x4(lanes: readonly [number, number, number, number]): this {
    const b = new Uint8Array(16);
    const view = new DataView(b.buffer);
    lanes.forEach((x, i) => view.setInt32(4 * i, x, true));
    this.bytes.push(PREFIX.simd, ...uleb(SIMD_OP["v128.const"]), ...b);
    return this;
  }

  /** `i8x16.shuffle` of the two vectors on the stack: byte i of the result is byte `lanes[i]` of their 32 bytes. */
  shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16 || lanes.some((l) => l < 0 || l > 31))
      throw new Error("wasm: a shuffle takes 16 lanes < 32");
    this.bytes.push(PREFIX.simd, ...uleb(SIMD_OP["i8x16.shuffle"]), ...lanes);
    return this;
  }

  atomic(name: AtomicOp, offset = 0): this {
    this.bytes.push(PREFIX.atomic, ...uleb(ATOMIC_OP[name]), ...uleb(ALIGN[name]!), ...uleb(offset));
    return this;
  }

  i32(value: number): this {
    this.bytes.push(OP["i32.const"], ...sleb(value | 0));
    return this;
  }

  /** `i64.const` of a 32-bit integer (sign-extended). */
  i64(value: number): this {
    this.bytes.push(OP["i64.const"], ...sleb(value | 0));
    return this;
  }

  f64(value: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, value, true);
    this.bytes.push(OP["f64.const"], ...b);
    return this;
  }

  f32(value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.bytes.push(OP["f32.const"], ...b);
    return this;
  }

  get(index: number): this {
    this.bytes.push(OP["local.get"], ...uleb(index));
    return this;
  }

  set(index: number): this {
    this.bytes.push(OP["local.set"], ...uleb(index));
    return this;
  }

  tee(index: number): this {
    this.bytes.push(OP["local.tee"], ...uleb(index));
    return this;
  }

  call(funcIndex: number): this {
    this.bytes.push(OP.call, ...uleb(funcIndex));
    return this;
  }

  /** `block` (a forward branch target: `br` exits it) around `body`. */
  block(body: (exit: Label) => void, result?: ValType): this {
    return this.structured(OP.block, body, result);
  }

  /** `loop` (a backward branch target: `br` restarts it) around `body`. */
  loop(body: (restart: Label) => void): this {
    return this.structured(OP.loop, body);
  }

  /** `if` on the i32 on the stack; `onFalse` makes it an if/else (needed when `result` is set). */
  if(onTrue: () => void, onFalse?: () => void, result?: ValType): this {
    this.bytes.push(OP.if, result ? VALTYPE[result] : BLOCK_EMPTY);
    this.depth++;
    onTrue();
    if (onFalse) {
      this.bytes.push(OP.else);
      onFalse();
    }
    this.depth--;
    this.bytes.push(OP.end);
    return this;
  }

  br(label: Label): this {
    this.bytes.push(OP.br, ...uleb(this.depth - 1 - label.depth));
    return this;
  }

  brIf(label: Label): this {
    this.bytes.push(OP.br_if, ...uleb(this.depth - 1 - label.depth));
    return this;
  }

  private structured(opcode: number, body: (l: Label) => void, result?: ValType): this {
    this.bytes.push(opcode, result ? VALTYPE[result] : BLOCK_EMPTY);
    const label = { depth: this.depth };
    this.depth++;
    body(label);
    this.depth--;
    this.bytes.push(OP.end);
    return this;
  }

  /** The encoded body: local declarations (runs of one type), instructions, `end`. */
  encode(): number[] {
    if (this.depth !== 0) throw new Error("wasm: function body has unclosed blocks");
    const runs: [number, ValType][] = [];
    for (const t of this.localTypes) {
      const last = runs[runs.length - 1];
      if (last && last[1] === t) last[0]++;
      else runs.push([1, t]);
    }
    const locals = [...uleb(runs.length), ...runs.flatMap(([n, t]) => [...uleb(n), VALTYPE[t]])];
    const body = [...locals, ...this.bytes, OP.end];
    return [...uleb(body.length), ...body];
  }
}
