/**
 * Fusion is real: kernel counts from `compile(...)` for the patterns the issue
 * names (elementwise chains, softmax, matmul + bias + activation), plus the
 * fusion pass alone: the plan covers every live equation, runs producers
 * before consumers, and `fuse: false` gives one kernel per equation.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compile } from "../../codegen/compile";
import { LOWERINGS } from "../../codegen/lower/table";
import { fuse } from "../../codegen/passes/fusion";
import { optimize } from "../../codegen/passes/pipeline";
import * as ops from "../../dsl/ops";
import { spec, trace } from "../../dsl/api";
import type { Tensor } from "../../dsl/tensor";
import { tensor } from "../../dsl/creation";
import type { Target } from "../../codegen/kernel_ir";
import "../../codegen/index";
import { mulberry32, randomFloats, randomProgramArb, runAndCompare } from "../../testing/random_programs";
import { gpuShapedOnJs, onCpu } from "./runners";

const TARGETS: Target[] = ["js", "wgsl", "cuda"];
const UNARY = [ops.exp, ops.tanh, ops.sigmoid, ops.neg, ops.sin, ops.relu, ops.silu, ops.abs];

function kernels(p: ReturnType<typeof trace>, target: Target = "js"): number {
  return compile(p, { target }).kernels.length;
}

describe("kernel counts", () => {
  it("a chain of n elementwise ops (with broadcasts and constants) compiles to one kernel", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(UNARY.length * 3 - 1), { minLength: 1, maxLength: 12 }),
        fc.constantFrom(...TARGETS),
        (chain, target) => {
          const p = trace(
            (x: Tensor, b: Tensor) =>
              chain.reduce(
                (y, k) => (k < UNARY.length ? UNARY[k]!(y) : k < 2 * UNARY.length ? ops.add(y, b) : ops.mul(y, 0.5)),
                x,
              ),
            spec(["T", 7]),
            spec([7]),
          );
          expect(kernels(p, target)).toBe(1);
        },
      ),
      { numRuns: 30 },
    );
  });

  it("softmax compiles to at most 2 kernels (one row kernel: max, sum, normalise)", () => {
    for (const target of TARGETS) {
      for (const shape of [
        [8, 5],
        ["T", 64],
        [3, 4, 1024],
      ] as const) {
        for (let axis = -1; axis >= -shape.length; axis--) {
          const n = kernels(
            trace((x: Tensor) => ops.softmax(x, axis), spec(shape)),
            target,
          );
          expect(n).toBeLessThanOrEqual(2);
          expect(n).toBe(1);
        }
      }
    }
  });

  it("logSoftmax, logsumexp and a layer norm are one row kernel each", () => {
    const layerNorm = (x: Tensor) => {
      const mu = ops.mean(x, -1, true);
      const c = ops.sub(x, mu);
      return ops.mul(c, ops.rsqrt(ops.add(ops.mean(ops.square(c), -1, true), 1e-5)));
    };
    for (const f of [(x: Tensor) => ops.logSoftmax(x), (x: Tensor) => ops.logsumexp(x, -1), layerNorm]) {
      expect(kernels(trace(f, spec(["T", 16])))).toBe(1);
    }
  });

  it("matmul + bias + activation compiles to one kernel", () => {
    for (const target of TARGETS) {
      for (const act of [ops.relu, ops.gelu, ops.silu, ops.tanh]) {
        const p = trace(
          (x: Tensor, w: Tensor, b: Tensor) => act(ops.add(ops.matmul(x, w), b)),
          spec(["T", 32]),
          spec([32, 16]),
          spec([16]),
        );
        expect(kernels(p, target)).toBe(1);
      }
    }
  });

  it("a transposed operand is read in place (x @ w.T is one kernel)", () => {
    expect(kernels(trace((x: Tensor, w: Tensor) => ops.matmul(x, ops.transpose(w)), spec([5, 3]), spec([4, 3])))).toBe(
      1,
    );
  });

  it("fusion follows the lowering rules' index maps (a matmul read through a transpose round trip keeps its epilogue)", () => {
    const p = trace(
      (x: Tensor, w: Tensor) => ops.tanh(ops.transpose(ops.transpose(ops.matmul(x, w)))),
      spec([6, 4]),
      spec([4, 5]),
    );
    // Without the graph passes the two transposes stay; their composed index map is the identity.
    const plan = fuse(p, LOWERINGS);
    expect(plan.groups.map((g) => g.kind)).toEqual(["matmul"]);
    const opaqueTranspose = {
      ...LOWERINGS,
      transpose: {
        ...LOWERINGS.transpose,
        indexMap: (_e: unknown, _pos: number, out: readonly unknown[]) => out.map(() => null),
      },
    } as typeof LOWERINGS;
    expect(fuse(p, opaqueTranspose).groups.map((g) => g.kind)).toEqual(["matmul", "elementwise"]);
  });

  it("the fused kernels compute what the interpreter does", async () => {
    const rng = mulberry32(3);
    const p = trace(
      (x: Tensor, w: Tensor, b: Tensor) => ops.softmax(ops.gelu(ops.add(ops.matmul(x, w), b))),
      spec([9, 13]),
      spec([13, 7]),
      spec([7]),
    );
    const inputs = [
      randomFloats(rng, "f32", [9, 13]),
      randomFloats(rng, "f32", [13, 7]),
      randomFloats(rng, "f32", [7]),
    ];
    await runAndCompare(onCpu, p, inputs, 1e-5);
    await runAndCompare(gpuShapedOnJs, p, inputs, 1e-5);
    expect(kernels(p)).toBe(2);
  });

  it("a value read by several kernels is computed in the first, which writes it for the rest", async () => {
    // g = u * sigmoid(u) feeds h = g * v (then a matmul) and, after the matmul, sum(g * y):
    // one kernel computes s, g and h and writes g and h; then the matmul; then the reduction.
    const p = trace(
      (u: Tensor, v: Tensor, w: Tensor) => {
        const g = ops.mul(u, ops.sigmoid(u));
        const y = ops.matmul(ops.mul(g, v), w);
        return ops.sum(ops.mul(g, ops.matmul(y, ops.transpose(w))));
      },
      spec([6, 5]),
      spec([6, 5]),
      spec([5, 5]),
    );
    for (const target of TARGETS) expect(kernels(p, target)).toBe(4);
    const first = compile(p, { target: "js" }).kernels[0]!;
    expect(first.params.filter((q) => q.access === "readWrite")).toHaveLength(2);
    const rng = mulberry32(4);
    const inputs = [
      randomFloats(rng, "f32", [6, 5]),
      randomFloats(rng, "f32", [6, 5]),
      randomFloats(rng, "f32", [5, 5]),
    ];
    await runAndCompare(onCpu, p, inputs, 1e-5);
    await runAndCompare(gpuShapedOnJs, p, inputs, 1e-5);
  });

  it("elementwise producers of a scatter's updates and a scan's input are computed inside those kernels", async () => {
    const p = trace(
      (x: Tensor, i: Tensor, u: Tensor, v: Tensor) => [
        ops.scatterAdd(x, i, ops.mul(u, ops.exp(v)), 0),
        ops.cumsum(ops.tanh(u), 0),
      ],
      spec([4, 3]),
      spec([9], "i32"),
      spec([9, 3]),
      spec([9, 3]),
    );
    for (const target of TARGETS) {
      const names = compile(p, { target }).kernels.map((k) => k.name);
      expect(
        names.filter((n) => n.includes("elementwise")),
        `${target}: ${names.join(", ")}`,
      ).toEqual([]);
    }
    const rng = mulberry32(8);
    const idx = tensor(
      Int32Array.from({ length: 9 }, () => Math.floor(rng() * 4)),
      [9],
      "i32",
    );
    const inputs = [
      randomFloats(rng, "f32", [4, 3]),
      idx,
      randomFloats(rng, "f32", [9, 3]),
      randomFloats(rng, "f32", [9, 3]),
    ];
    await runAndCompare(onCpu, p, inputs, 1e-5);
    await runAndCompare(gpuShapedOnJs, p, inputs, 1e-5);
  });

  it("fuse: false gives one kernel per equation", () => {
    const p = trace((x: Tensor) => ops.exp(ops.neg(ops.tanh(x))), spec([4]));
    expect(compile(p, { target: "js", fuse: false }).kernels.length).toBe(3);
    expect(compile(p, { target: "js" }).kernels.length).toBe(1);
  });

  it("kernel comments carry the Program's variable names", () => {
    const p = trace((x: Tensor) => ops.exp(ops.neg(x)), spec([4]));
    const [k] = compile(p, { target: "js" }).kernels;
    for (const e of p.eqns) expect(k!.comment).toContain(String(e.out));
    expect(k!.source).toContain(String(p.eqns[0]!.out));
  });
});

describe("fusion pass", () => {
  it("every live equation is computed by a group, groups run after the groups they read", () => {
    fc.assert(
      fc.property(randomProgramArb(), (c) => {
        const prog = optimize(c.program);
        const plan = fuse(prog, LOWERINGS);
        const owner = new Map<unknown, number>();
        plan.groups.forEach((g, i) => g.roots.forEach((r) => owner.set(r, i)));
        const computed = new Set(plan.groups.flatMap((g) => [...g.members, ...g.mains.map((e) => e.out)]));
        const live = new Set(prog.outputs);
        for (let k = prog.eqns.length - 1; k >= 0; k--) {
          const e = prog.eqns[k]!;
          if (live.has(e.out)) e.inputs.forEach((v) => live.add(v));
        }
        for (const e of prog.eqns) if (live.has(e.out)) expect(computed.has(e.out)).toBe(true);
        // A group reads a variable it does not compute from a buffer written by an earlier group (or an input/const).
        plan.groups.forEach((g, i) => {
          const inside = new Set([...g.members, ...g.mains.map((e) => e.out)]);
          for (const e of prog.eqns.filter((q) => inside.has(q.out))) {
            for (const v of e.inputs) {
              if (inside.has(v) || prog.inputs.includes(v) || prog.consts.has(v)) continue;
              expect(owner.get(v)).toBeLessThan(i);
            }
          }
        });
        for (const v of prog.outputs)
          if (!prog.inputs.includes(v) && !prog.consts.has(v)) expect(owner.has(v)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});
