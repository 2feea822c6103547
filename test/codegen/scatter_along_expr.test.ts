/**
 * scatterAddAlong along a short axis (at most SHORT_SCATTER_AXIS updates per
 * line: topK's backward) is an expression its consumer computes in place
 * (lower/ops/scatter.ts `scatterAlongShortAxis`, through the op rule's
 * `asExpr`); a longer axis keeps the scatter's own kernel. Both equal the
 * interpreter on js, wasm and the GPU-shaped schedule, with duplicate indices,
 * on any axis, and out-of-range indices are reported like the interpreter does.
 */
import { describe, expect, it } from "vitest";
import { compile } from "../../codegen/compile";
import { SHORT_SCATTER_AXIS } from "../../codegen/lower/ops/scatter";
import { exp, mul, spec, trace, type Tensor } from "../../index";
import { bind, evalProgram } from "../../dsl/trace";
import { mulberry32, randomFloats, randomIndices, runAndCompare } from "../../testing/random_programs";
import { gpuShapedOnJs, onJs, onWasm, runCompiled } from "./runners";

/** exp(x) * scatterAddAlong(y, idx, upd): the scatter is read per element by an elementwise consumer. */
const scaled = (axis: number) => (x: Tensor, y: Tensor, idx: Tensor, upd: Tensor) =>
  mul(exp(x), bind("scatterAddAlong", [y, idx, upd], { axis }));

function program(rows: number, len: number, kk: number, axis: number) {
  const shape = axis === 1 ? [rows, len] : [len, rows];
  const updShape = axis === 1 ? [rows, kk] : [kk, rows];
  return {
    p: trace(scaled(axis), spec(shape), spec(shape), spec(updShape, "i32"), spec(updShape)),
    shape,
    updShape,
  };
}

/** Kernel names, less the kernel clearing the index-check flag (these indices are not proven in range). */
const names = (p: ReturnType<typeof trace>, target: "wgsl" | "cuda" | "js") =>
  compile(p, { target })
    .kernels.map((k) => k.name)
    .filter((n) => n !== "k_clear_checks");

describe("scatterAddAlong along a short axis", () => {
  it(`with at most ${SHORT_SCATTER_AXIS} updates a line it is computed in the consumer's kernel; more keep the scatter kernel`, () => {
    for (const target of ["wgsl", "cuda", "js"] as const) {
      const short = names(program(5, 8, SHORT_SCATTER_AXIS, 1).p, target);
      expect(short, short.join(" ")).toHaveLength(1);
      expect(short[0]).toMatch(/_elementwise$/);
      const long = names(program(5, 8, SHORT_SCATTER_AXIS + 1, 1).p, target);
      expect(
        long.some((k) => k.includes("scatter_add_along")),
        long.join(" "),
      ).toBe(true);
    }
  });

  it("equals the interpreter on js, wasm and the GPU-shaped schedule: duplicates, axis 0 and 1, long axes", async () => {
    const rng = mulberry32(21);
    for (const [rows, len, kk, axis] of [
      [1, 1, 1, 1],
      [7, 5, 3, 1], // duplicate targets within a line
      [6, 3, SHORT_SCATTER_AXIS, 1],
      [4, 9, 2, 0],
      [3, 4, SHORT_SCATTER_AXIS + 3, 1], // the scatter kernel
    ] as const) {
      const { p, shape, updShape } = program(rows, len, kk, axis);
      const xs = [
        randomFloats(rng, "f32", shape),
        randomFloats(rng, "f32", shape),
        randomIndices(rng, updShape, len),
        randomFloats(rng, "f32", updShape),
      ];
      for (const run of [onJs, onWasm, gpuShapedOnJs]) await runAndCompare(run, p, xs);
    }
  });

  it("reports an out-of-range index like the interpreter", () => {
    const { p, shape, updShape } = program(2, 4, 2, 1);
    const rng = mulberry32(3);
    const xs = [
      randomFloats(rng, "f32", shape),
      randomFloats(rng, "f32", shape),
      randomIndices(rng, updShape, 4),
      randomFloats(rng, "f32", updShape),
    ];
    const bad = xs[2]!._value().data as Int32Array;
    bad[3] = 6;
    expect(() => evalProgram(p, xs)).toThrow(/scatterAddAlong/);
    expect(() => runCompiled(compile(p, { target: "js" }), p, xs)).toThrow(
      /scatterAddAlong: index 6 is out of range for axis 1 of size 4/,
    );
  });
});
