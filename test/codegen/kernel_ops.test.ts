/**
 * The kernel-IR op table (codegen/kernel_ops.ts) against the verifier and the
 * targets: the verifier accepts exactly the operand types a row's typing rule
 * names; every accepted (op, type) renders on every target that has the type;
 * and the JS and wasm kernels of every unary (op, type) agree bit for bit on
 * random inputs (both follow the JS target's semantics; the random-program
 * suites compare both with the interpreter).
 */
import { describe, expect, it } from "vitest";
import { emitCudaKernel } from "../../codegen/emit/cuda";
import { renderJs } from "../../codegen/emit/js";
import { hostImportsSource } from "../../codegen/emit/wasm/imports";
import { ELEMENT_BYTES, MAX_PAGES, renderWasmKernel } from "../../codegen/emit/wasm/kernel";
import { emitWgsl } from "../../codegen/emit/wgsl";
import { bin, builtin, c, cast, load, un, type Expr, type Kernel, type ScalarType } from "../../codegen/kernel_ir";
import * as table from "../../codegen/kernel_ops";
import * as binaryTable from "../../codegen/kernel_ops_binary";
import { KernelVerifyError, verifyKernel } from "../../codegen/verify";

const { OPERAND_TYPES, UNARY_OP_NAMES, UNARY_OPS } = table;
const { BINARY_OP_NAMES, BINARY_OPS, binaryOperandTypes, givesBool } = binaryTable;
type BinaryOp = binaryTable.BinaryOp;
type UnaryOp = table.UnaryOp;
const ALL_TYPES: readonly ScalarType[] = ["f32", "f16", "f64", "i32", "u32", "bool"];
const gid: Expr = cast(builtin("globalLinear"), "i32");

/** y[i] = value(x[i], x2[i]) over `n` threads, one per workgroup. */
function elementwise(name: string, inType: ScalarType, outType: ScalarType, value: (a: Expr, b: Expr) => Expr): Kernel {
  return {
    name,
    params: [
      { name: "x", type: inType, access: "read" },
      { name: "x2", type: inType, access: "read" },
      { name: "y", type: outType, access: "readWrite" },
    ],
    sizes: [],
    shared: [],
    workgroupSize: 1,
    body: [{ kind: "store", buffer: "y", index: gid, value: value(load("x", gid, inType), load("x2", gid, inType)) }],
  };
}
const unaryKernel = (op: UnaryOp, t: ScalarType) => elementwise(`u_${op}_${t}`, t, t, (a) => un(op, a, t));
const binaryKernel = (op: BinaryOp, t: ScalarType) => {
  const out = givesBool(op) ? "bool" : t;
  return elementwise(`b_${op}_${t}`, t, out, (a, b) => bin(op, a, b, out));
};

describe("the op table's typing rules are the verifier's", () => {
  it("a unary op verifies on exactly its operand class", () => {
    for (const op of UNARY_OP_NAMES)
      for (const t of ALL_TYPES) {
        const k = unaryKernel(op, t);
        if (OPERAND_TYPES[UNARY_OPS[op].operands].includes(t))
          expect(() => verifyKernel(k), `${op} ${t}`).not.toThrow();
        else expect(() => verifyKernel(k), `${op} ${t}`).toThrow(KernelVerifyError);
      }
  });

  it("a binary op verifies on exactly its operand types, with the result its kind gives", () => {
    for (const op of BINARY_OP_NAMES)
      for (const t of ALL_TYPES) {
        const kind = BINARY_OPS[op].kind;
        const out = kind === "compare" || kind === "logical" ? "bool" : t;
        const k = elementwise(`b_${op}_${t}`, t, out, (a, b) => bin(op, a, b, out));
        if (binaryOperandTypes(op).includes(t)) expect(() => verifyKernel(k), `${op} ${t}`).not.toThrow();
        else expect(() => verifyKernel(k), `${op} ${t}`).toThrow(KernelVerifyError);
      }
  });

  it("names the op and the class it expected", () => {
    expect(() => verifyKernel(unaryKernel("exp", "i32"))).toThrow(/exp of i32; expected a float type/);
    expect(() => verifyKernel(unaryKernel("bitNot", "f32"))).toThrow(/bitNot of f32; expected an integer type/);
  });
});

describe("every accepted unary (op, type) renders on every target that has the type", () => {
  it("js, wasm, wgsl (no f64) and cuda (no f64)", () => {
    for (const op of UNARY_OP_NAMES)
      for (const t of OPERAND_TYPES[UNARY_OPS[op].operands]) {
        const k = unaryKernel(op, t);
        expect(renderJs(k)).toContain("function");
        expect(WebAssembly.validate(renderWasmKernel(k, { shared: false }))).toBe(true);
        if (t === "f64") continue;
        expect(emitWgsl(k)).toContain("fn main");
        expect(emitCudaKernel(k)).toContain("__global__");
      }
  });
});

describe("every accepted binary (op, type) renders on every target that has the type", () => {
  it("js, wasm, wgsl (no f64) and cuda (no f64)", () => {
    for (const op of BINARY_OP_NAMES)
      for (const t of binaryOperandTypes(op)) {
        const k = binaryKernel(op, t);
        expect(renderJs(k)).toContain("function");
        expect(WebAssembly.validate(renderWasmKernel(k, { shared: false })), `${op} ${t}`).toBe(true);
        if (t === "f64") continue;
        expect(emitWgsl(k)).toContain("fn main");
        // The one gap: CUDA has no integer pow (WGSL computes it in f32 by a rewrite).
        if (op === "pow" && (t === "i32" || t === "u32"))
          expect(() => emitCudaKernel(k)).toThrow(
            /binary op "pow" has no CUDA lowering for (int|unsigned int) operands/,
          );
        else expect(emitCudaKernel(k)).toContain("__global__");
      }
  });
});

// ---------------------------------------------------------------- js vs wasm vs the interpreter

type Typed = Float32Array | Float64Array | Int32Array | Uint32Array | Uint8Array;
const typed = (t: ScalarType, n: number): Typed =>
  t === "f64"
    ? new Float64Array(n)
    : t === "i32"
      ? new Int32Array(n)
      : t === "u32"
        ? new Uint32Array(n)
        : t === "bool"
          ? new Uint8Array(n)
          : new Float32Array(n);

/** Inputs across each type's range, with the edge cases the cells special-case (zeros, signs, large values). */
function inputs(t: ScalarType, n: number, seed: number): Typed {
  const out = typed(t, n);
  let s = seed;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const edges = t === "bool" ? [0, 1] : t === "u32" ? [0, 1, 2 ** 32 - 1] : [0, -0, 1, -1, 30, -30, 0.5];
  for (let i = 0; i < n; i++) {
    const r = next();
    out[i] =
      i < edges.length
        ? edges[i]!
        : t === "bool"
          ? Number(r < 0.5)
          : t === "i32"
            ? Math.floor((r - 0.5) * 2 ** 32)
            : t === "u32"
              ? Math.floor(r * 2 ** 32)
              : (r - 0.5) * 12;
  }
  return out;
}

function runJs(k: Kernel, x: Typed, x2: Typed, y: Typed): void {
  const fn = new Function(`return ${renderJs(k)}`)() as (b: Typed[], s: number[], g: number) => void;
  fn([x, x2, y], [], x.length);
}

let host: Record<string, unknown> | undefined;
function runWasm(k: Kernel, x: Typed, x2: Typed, y: Typed): void {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES });
  const bytes = ELEMENT_BYTES[k.params[0]!.type] * x.length;
  const inst = new WebAssembly.Instance(new WebAssembly.Module(renderWasmKernel(k, { shared: false })), {
    mf: { memory, ...(host ??= new Function(`return ${hostImportsSource()}`)() as Record<string, unknown>) },
  });
  // f16 buffers hold f32 on the cpu targets (ELEMENT_BYTES), so an f16 view is a Float32Array too.
  const view = (t: ScalarType, offset: number) =>
    new (typed(t, 0).constructor as new (b: ArrayBuffer, o: number, n: number) => Typed)(
      memory.buffer,
      offset,
      x.length,
    );
  view(k.params[0]!.type, 0).set(x);
  view(k.params[0]!.type, bytes).set(x2);
  (inst.exports.kernel as (...a: number[]) => void)(0, bytes, 2 * bytes, x.length, 0, x.length);
  y.set(view(k.params[2]!.type, 2 * bytes));
}

describe("js and wasm kernels of every unary op agree bit for bit", () => {
  it("on every cpu type each op accepts (a few hundred inputs each)", () => {
    for (const op of UNARY_OP_NAMES)
      for (const t of OPERAND_TYPES[UNARY_OPS[op].operands]) {
        const k = unaryKernel(op, t);
        const x = inputs(t, 257, op.length * 31 + t.length);
        const [a, b] = [typed(t, x.length), typed(t, x.length)];
        runJs(k, x, x, a);
        runWasm(k, x, x, b);
        expect(Array.from(b), `${op} ${t}`).toEqual(Array.from(a));
      }
  });
});

describe("js and wasm kernels of every binary op agree bit for bit", () => {
  it("on every cpu type each op accepts (zero divisors and constant divisors included)", () => {
    for (const op of BINARY_OP_NAMES)
      for (const t of binaryOperandTypes(op)) {
        const x = inputs(t, 257, op.length * 17 + t.length);
        const x2 = inputs(t, 257, op.length * 5 + t.length + 1);
        const out = givesBool(op) ? "bool" : t;
        // Both operands loaded, then the right one a nonzero constant (the cells' fast paths: no zero guard).
        const constant = elementwise(`c_${op}_${t}`, t, out, (a) => bin(op, a, c(t === "bool" ? 1 : 3, t), out));
        for (const k of [binaryKernel(op, t), constant]) {
          const [a, b] = [typed(out, x.length), typed(out, x.length)];
          runJs(k, x, x2, a);
          runWasm(k, x, x2, b);
          expect(Array.from(b), `${k.name}`).toEqual(Array.from(a));
        }
      }
  });
});
