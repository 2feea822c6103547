/**
 * Each graph pass alone: it never changes what a program computes (random
 * programs, interpreter before and after), and it does the rewrite it is for.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { constantFold } from "../../codegen/passes/constant_fold";
import { cse } from "../../codegen/passes/cse";
import { dce } from "../../codegen/passes/dce";
import { inlineCalls } from "../../codegen/passes/inline_calls";
import { optimize } from "../../codegen/passes/pipeline";
import { simplify } from "../../codegen/passes/simplify";
import { customVjp } from "../../autodiff/api";
import { spec, trace } from "../../dsl/api";
import { tensor } from "../../dsl/creation";
import * as ops from "../../dsl/ops";
import type { Program } from "../../dsl/program";
import type { Tensor } from "../../dsl/tensor";
import { evalProgram } from "../../dsl/trace";
import { mulberry32, randomFloats, randomProgramArb, relativeError } from "../../testing/random_programs";

const PASSES: [string, (p: Program) => Program][] = [
  ["dce", dce],
  ["cse", cse],
  ["constantFold", constantFold],
  ["simplify", simplify],
  ["inlineCalls", inlineCalls],
  ["optimize (all)", optimize],
];

const prims = (p: Program) => p.eqns.map((e) => e.prim);

describe.each(PASSES)("%s", (_name, pass) => {
  it("preserves the values of random programs (60 cases)", () => {
    fc.assert(
      fc.property(randomProgramArb({ maxSteps: 5 }), (c) => {
        const before = evalProgram(c.program, c.inputs);
        const after = evalProgram(pass(c.program), c.inputs);
        expect(after.length).toBe(before.length);
        before.forEach((t, i) => {
          expect(after[i]!.shape).toEqual(t.shape);
          expect(relativeError(after[i]!.dataSync(), t.dataSync())).toBeLessThanOrEqual(1e-6);
        });
      }),
      { numRuns: 60 },
    );
  });
});

describe("what each pass removes", () => {
  it("dce drops equations no output depends on, keeps the inputs", () => {
    const p = trace(
      (x: Tensor) => {
        ops.exp(x);
        return ops.neg(x);
      },
      spec([3]),
    );
    expect(prims(p)).toEqual(["exp", "neg"]);
    const q = dce(p);
    expect(prims(q)).toEqual(["neg"]);
    expect(q.inputs).toEqual(p.inputs);
  });

  it("cse merges equal equations and equal small constants", () => {
    const p = trace((x: Tensor) => ops.add(ops.mul(ops.exp(x), 2), ops.mul(ops.exp(x), 2)), spec([3]));
    const before = prims(p).filter((q) => q === "exp").length;
    const q = dce(cse(p));
    expect(before).toBe(2);
    expect(prims(q).filter((r) => r === "exp").length).toBe(1);
    expect(prims(q).filter((r) => r === "mul").length).toBe(1);
  });

  it("constantFold evaluates constant subprograms with the interpreter and folds math on broadcast scalars", () => {
    const c = tensor([1, 2, 3]);
    const p = trace((x: Tensor) => ops.add(x, ops.exp(ops.mul(c, 2))), spec([3]));
    const q = dce(constantFold(p));
    expect(prims(q)).toEqual(["add"]);
    const [folded] = [...q.consts.values()];
    expect(Array.from(folded!.data)).toEqual([1, 2, 3].map((v) => Math.fround(Math.exp(v * 2))));
    // x + (2 * 3) on a big named shape: the scalar is folded, never a big constant.
    const r = dce(
      constantFold(trace((x: Tensor) => ops.add(x, ops.mul(ops.full(["T", 1000], 2), 3)), spec(["T", 1000]))),
    );
    expect(prims(r)).toEqual(["broadcastTo", "add"]);
    expect([...r.consts.values()].every((a) => a.size === 1 && a.data[0] === 6)).toBe(true);
  });

  it("simplify removes x*1, x+0, double negation, reshape/transpose/broadcast round trips and stopGradient", () => {
    const p = trace(
      (x: Tensor) => {
        const a = ops.add(ops.mul(x, 1), 0);
        const b = ops.neg(ops.neg(a));
        const t = ops.transpose(ops.transpose(b, [1, 0]), [1, 0]);
        const r = ops.reshape(ops.reshape(t, [6]), [2, 3]);
        return ops.stopGradient(r);
      },
      spec([2, 3]),
    );
    const q = dce(simplify(p));
    expect(q.eqns).toEqual([]);
    expect(q.outputs[0]).toBe(q.inputs[0]);
  });

  it("simplify composes transposes and merges reshapes", () => {
    const p = trace(
      (x: Tensor) => ops.reshape(ops.reshape(ops.transpose(ops.transpose(x, [1, 2, 0]), [1, 2, 0]), [24]), [4, 6]),
      spec([2, 3, 4]),
    );
    const q = dce(simplify(p));
    expect(prims(q)).toEqual(["transpose", "reshape"]);
    expect((q.eqns[0]!.params as { perm: number[] }).perm).toEqual([2, 0, 1]);
  });

  it("inlineCalls splices custom-VJP calls (each call gets its own variables)", () => {
    const f = customVjp(
      (x: Tensor) => ops.mul(ops.exp(x), 3),
      (x: Tensor) => [ops.mul(ops.exp(x), 3), x],
      (_x: unknown, ct: Tensor) => [ct],
    );
    const p = trace((x: Tensor) => ops.add(f(x), f(ops.neg(x))), spec([4]));
    expect(prims(p)).toContain("customVjpCall");
    const q = inlineCalls(p);
    expect(prims(q)).not.toContain("customVjpCall");
    const ids = q.eqns.map((e) => e.out.id);
    expect(new Set(ids).size).toBe(ids.length);
    const rng = mulberry32(1);
    const x = randomFloats(rng, "f32", [4]);
    expect(relativeError(evalProgram(q, [x])[0]!.dataSync(), evalProgram(p, [x])[0]!.dataSync())).toBe(0);
  });
});
