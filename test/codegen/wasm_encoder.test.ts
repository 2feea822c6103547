/**
 * The WebAssembly encoder (codegen/emit/wasm/): LEB128 and module bytes
 * against known encodings, and modules using the SIMD128 opcodes validate and
 * compute what the instructions mean.
 */
import { describe, expect, it } from "vitest";
import { ModuleBuilder, WASM_HEADER } from "../../codegen/emit/wasm/module";
import { sleb, uleb } from "../../codegen/emit/wasm/leb128";
import { wasmSimdAvailable } from "../../codegen/emit/wasm/emitter";

describe("LEB128", () => {
  it("encodes known values", () => {
    expect(uleb(0)).toEqual([0]);
    expect(uleb(127)).toEqual([0x7f]);
    expect(uleb(128)).toEqual([0x80, 0x01]);
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(uleb(2 ** 32 - 1)).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(sleb(0)).toEqual([0]);
    expect(sleb(-1)).toEqual([0x7f]);
    expect(sleb(63)).toEqual([0x3f]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
    expect(sleb(-64)).toEqual([0x40]);
    expect(sleb(-65)).toEqual([0xbf, 0x7f]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
    expect(sleb(-(2 ** 31))).toEqual([0x80, 0x80, 0x80, 0x80, 0x78]);
    // Values in [2^31, 2^32) are i32 bit patterns.
    expect(sleb(2 ** 32 - 1)).toEqual([0x7f]);
  });

  it("rejects values it cannot encode, naming them", () => {
    expect(() => uleb(-1)).toThrow(/-1 is not an unsigned 32-bit integer/);
    expect(() => uleb(1.5)).toThrow(/1.5/);
    expect(() => sleb(2 ** 32)).toThrow(/not a 32-bit integer/);
  });
});

describe("module encoding", () => {
  it("an empty module is the header", () => {
    expect([...new ModuleBuilder().encode()]).toEqual(WASM_HEADER);
  });

  it("an exported (i32, i32) -> i32 add has the reference bytes and runs", () => {
    const m = new ModuleBuilder();
    const f = m.func({ params: ["i32", "i32"], results: ["i32"] }, (b) => b.get(0).get(1).op("i32.add"));
    m.export("add", f.index);
    const bytes = m.encode();
    // prettier-ignore
    expect([...bytes]).toEqual([
      ...WASM_HEADER,
      0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, // type section: (i32, i32) -> i32
      0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
      0x07, 0x07, 0x01, 0x03, 0x61, 0x64, 0x64, 0x00, 0x00, // export "add" = func 0
      0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b, // code: local.get 0, local.get 1, i32.add
    ]);
    const add = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.add as (a: number, b: number) => number;
    expect(add(2, 40)).toBe(42);
    expect(add(2 ** 31 - 1, 1)).toBe(-(2 ** 31));
  });

  it("blocks, loops and branches resolve their labels: sum of 0..n-1", () => {
    const m = new ModuleBuilder();
    const f = m.func({ params: ["i32"], results: ["i32"] }, (b) => {
      const i = b.local("i32");
      const s = b.local("i32");
      b.block((exit) =>
        b.loop((again) => {
          b.get(i).get(0).op("i32.ge_s").brIf(exit);
          b.get(s).get(i).op("i32.add").set(s);
          b.get(i).i32(1).op("i32.add").set(i);
          b.br(again);
        }),
      );
      b.get(s);
    });
    m.export("sum", f.index);
    const sum = new WebAssembly.Instance(new WebAssembly.Module(m.encode())).exports.sum as (n: number) => number;
    expect(sum(10)).toBe(45);
    expect(sum(0)).toBe(0);
  });

  it("an imported shared memory, f64 and f32 constants and memory ops", () => {
    const m = new ModuleBuilder();
    m.importMemory({ module: "mf", name: "memory", initial: 1, maximum: 4, shared: true });
    const f = m.func({ params: ["i32"], results: [] }, (b) => {
      b.get(0).f64(0.1).mem("f64.store");
      b.get(0).f32(1.5).mem("f32.store", 8);
      b.get(0).i32(-5).mem("i32.store", 12);
    });
    m.export("write", f.index);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(m.encode()), { mf: { memory } });
    (inst.exports.write as (p: number) => void)(16);
    expect(new Float64Array(memory.buffer, 16, 1)[0]).toBe(0.1);
    expect(new Float32Array(memory.buffer, 24, 1)[0]).toBe(1.5);
    expect(new Int32Array(memory.buffer, 28, 1)[0]).toBe(-5);
  });

  it("a shared memory without a maximum is an error", () => {
    expect(() => new ModuleBuilder().importMemory({ module: "m", name: "mem", initial: 1, shared: true })).toThrow(
      /shared memory needs a maximum/,
    );
  });
});

describe("SIMD128", () => {
  it("a body that leaves a value on the stack does not validate (what the emitter's check catches)", () => {
    const m = new ModuleBuilder();
    m.func({ params: [], results: [] }, (b) => b.f32(1).simd("f32x4.splat"));
    expect(WebAssembly.validate(m.encode())).toBe(false);
  });

  it("the engine has SIMD128 (the wasm target's requirement on Node 20+)", () => {
    expect(wasmSimdAvailable()).toBe(true);
  });

  it("f32x4 loads, splats, arithmetic, lanes and stores compute lane-wise", () => {
    // out[0..3] = max(a * splat(b[0]) + a, a) - a / 2, then lane 0 replaced by lane 3 of sqrt(abs(neg(a)))
    const m2 = new ModuleBuilder();
    m2.importMemory({ module: "mf", name: "memory", initial: 1 });
    const g = m2.func({ params: ["i32", "i32", "i32"], results: [] }, (b) => {
      const va = b.local("v128");
      const r = b.local("v128");
      b.get(0).simdMem("v128.load").set(va);
      b.get(va).get(1).simdMem("v128.load32_splat").simd("f32x4.mul").get(va).simd("f32x4.add");
      b.get(va).simd("f32x4.max");
      b.get(va).f32(2).simd("f32x4.splat").simd("f32x4.div").simd("f32x4.sub");
      b.get(va).simd("f32x4.neg").simd("f32x4.abs").simd("f32x4.sqrt").simdLane("f32x4.extract_lane", 3);
      b.simdLane("f32x4.replace_lane", 0).set(r);
      b.get(2).get(r).get(r).simd("f32x4.min").simdMem("v128.store");
    });
    m2.export("run", g.index);
    const memory = new WebAssembly.Memory({ initial: 1 });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(m2.encode()), { mf: { memory } });
    const a = [1, -2, 3, 16];
    new Float32Array(memory.buffer, 0, 4).set(a);
    new Float32Array(memory.buffer, 16, 1)[0] = 3;
    (inst.exports.run as (a: number, b: number, o: number) => void)(0, 16, 32);
    const want = a.map((x) => Math.max(x * 3 + x, x) - x / 2);
    want[0] = Math.sqrt(16);
    expect([...new Float32Array(memory.buffer, 32, 4)]).toEqual(want.map(Math.fround));
  });
});
