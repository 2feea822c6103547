/**
 * The JS emitter alone, on hand-built kernels: the interpreter's scalar
 * semantics (i32 wrap-around, division by zero, NaN in max, f32 rounding,
 * Threefry bits, uniform floats) and barrier kernels run as workgroups.
 */
import { describe, expect, it } from "vitest";
import { renderJs } from "../../codegen/emit/js";
import {
  bin,
  builtin,
  c,
  cast,
  load,
  type Expr,
  type Kernel,
  type ScalarType,
  type Stmt,
} from "../../codegen/kernel_ir";
import { threefry2x32 } from "../../dsl/primitives/random";

type Fn = (buffers: ArrayLike<number>[], sizes: number[], groups: number) => void;
const compileJs = (k: Kernel): Fn => new Function(`return ${renderJs(k)}`)() as Fn;

const gid: Expr = cast(builtin("globalLinear"), "i32");

/** A kernel computing out[i] = f(a[i], b[i]) for each thread i. */
function elementwise(type: ScalarType, outType: ScalarType, f: (a: Expr, b: Expr) => Expr): Kernel {
  const body: Stmt[] = [
    { kind: "store", buffer: "out", index: gid, value: f(load("a", gid, type), load("b", gid, type)) },
  ];
  return {
    name: "ew",
    params: [
      { name: "a", type, access: "read" },
      { name: "b", type, access: "read" },
      { name: "out", type: outType, access: "readWrite" },
    ],
    sizes: [],
    shared: [],
    workgroupSize: 1,
    body,
  };
}

function run(type: ScalarType, outType: ScalarType, f: (a: Expr, b: Expr) => Expr, a: number[], b: number[]): number[] {
  const A = type === "i32" ? Int32Array.from(a) : Float32Array.from(a);
  const B = type === "i32" ? Int32Array.from(b) : Float32Array.from(b);
  const out =
    outType === "i32"
      ? new Int32Array(a.length)
      : outType === "bool"
        ? new Uint8Array(a.length)
        : new Float32Array(a.length);
  compileJs(elementwise(type, outType, f))([A, B, out], [], a.length);
  return Array.from(out);
}

describe("scalar semantics match the interpreter", () => {
  it("i32 arithmetic wraps; division and remainder by zero give 0", () => {
    expect(run("i32", "i32", (a, b) => bin("mul", a, b, "i32"), [65536, -7], [65536, 3])).toEqual([0, -21]);
    expect(run("i32", "i32", (a, b) => bin("add", a, b, "i32"), [2147483647], [1])).toEqual([-2147483648]);
    expect(run("i32", "i32", (a, b) => bin("div", a, b, "i32"), [7, -7, 5], [2, 2, 0])).toEqual([3, -3, 0]);
    expect(run("i32", "i32", (a, b) => bin("rem", a, b, "i32"), [7, -7, 5], [2, 2, 0])).toEqual([1, -1, 0]);
  });

  it("f32 results are rounded, max propagates NaN, comparisons give bools", () => {
    const [third] = run("f32", "f32", (a, b) => bin("div", a, b, "f32"), [1], [3]);
    expect(third).toBe(Math.fround(1 / 3));
    expect(run("f32", "f32", (a, b) => bin("max", a, b, "f32"), [NaN, 1], [1, 2])).toEqual([NaN, 2]);
    expect(run("f32", "bool", (a, b) => bin("lt", a, b, "bool"), [1, 3, NaN], [2, 2, 0])).toEqual([1, 0, 0]);
    expect(run("f32", "i32", (a) => cast(a, "i32"), [-2.7, 2.7, NaN], [0, 0, 0])).toEqual([-2, 2, 0]);
  });

  it("threefry intrinsics and bitsToUniform give the interpreter's bits", () => {
    const k: Kernel = {
      name: "bits",
      params: [
        { name: "out", type: "u32", access: "readWrite" },
        { name: "u", type: "f32", access: "readWrite" },
      ],
      sizes: [],
      shared: [],
      workgroupSize: 1,
      body: [
        {
          kind: "let",
          name: "w",
          type: "u32",
          init: {
            kind: "call",
            fn: "threefry2x32_1",
            args: [c(42, "u32"), c(7, "u32"), c(0, "u32"), cast(gid, "u32")],
            type: "u32",
          },
        },
        { kind: "store", buffer: "out", index: gid, value: { kind: "var", name: "w", type: "u32" } },
        {
          kind: "store",
          buffer: "u",
          index: gid,
          value: { kind: "call", fn: "bitsToUniform", args: [{ kind: "var", name: "w", type: "u32" }], type: "f32" },
        },
      ],
    };
    const out = new Uint32Array(4);
    const u = new Float32Array(4);
    compileJs(k)([out, u], [], 4);
    for (let i = 0; i < 4; i++) {
      const w = threefry2x32(42, 7, 0, i)[1];
      expect(out[i]).toBe(w);
      expect(u[i]).toBe((w >>> 8) * 2 ** -24);
    }
  });
});

describe("threads and workgroups", () => {
  it("`return` ends only the current thread; named dims come from sizes", () => {
    const k: Kernel = {
      name: "tail",
      params: [{ name: "out", type: "i32", access: "readWrite" }],
      sizes: ["N"],
      shared: [],
      workgroupSize: 4,
      body: [
        {
          kind: "if",
          cond: bin("ge", gid, { kind: "size", name: "N", type: "i32" }, "bool"),
          then: [{ kind: "return" }],
        },
        { kind: "store", buffer: "out", index: gid, value: bin("add", gid, c(1), "i32") },
      ],
    };
    const out = new Int32Array(8).fill(-1);
    compileJs(k)([out], [6], 2);
    expect(Array.from(out)).toEqual([1, 2, 3, 4, 5, 6, -1, -1]);
  });

  it("barrier kernels run each workgroup's threads in lock step over shared memory", () => {
    // Each workgroup of 4 reverses its 4 elements through shared memory.
    const lid: Expr = cast(builtin("localLinear"), "i32");
    const k: Kernel = {
      name: "reverse",
      params: [
        { name: "x", type: "f32", access: "read" },
        { name: "y", type: "f32", access: "readWrite" },
      ],
      sizes: [],
      shared: [{ name: "tile", type: "f32", length: 4 }],
      workgroupSize: 4,
      body: [
        { kind: "sharedStore", array: "tile", index: lid, value: load("x", gid, "f32") },
        { kind: "barrier" },
        {
          kind: "store",
          buffer: "y",
          index: gid,
          value: { kind: "sharedLoad", array: "tile", index: bin("sub", c(3), lid, "i32"), type: "f32" },
        },
      ],
    };
    const y = new Float32Array(8);
    compileJs(k)([Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), y], [], 2);
    expect(Array.from(y)).toEqual([3, 2, 1, 0, 7, 6, 5, 4]);
  });
});
