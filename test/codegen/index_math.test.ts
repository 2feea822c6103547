/**
 * Index math of the lowering: linearize and delinearize are inverse on random
 * shapes (evaluated with concrete values), and a kernel that reads its own
 * domain's index reads at the flat offset directly (no div/mod round trip),
 * while transposed or broadcast reads still compute their offsets; dead-let
 * elimination on kernel IR.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compile } from "../../codegen/compile";
import type { Expr, Stmt } from "../../codegen/kernel_ir";
import { removeDeadLets } from "../../codegen/lower/dead_lets";
import { delinearize, delinearizeBound, linearize } from "../../codegen/lower/index_math";
import { spec, trace } from "../../dsl/api";
import * as ops from "../../dsl/ops";
import type { Tensor } from "../../dsl/tensor";
import "../../codegen/index";

/** Evaluates an i32 index expression with variables bound in `env`. */
function evalIndex(e: Expr, env: Map<string, number>): number {
  switch (e.kind) {
    case "const":
      return e.value;
    case "var":
      return env.get(e.name)!;
    case "binary": {
      const [a, b] = [evalIndex(e.lhs, env), evalIndex(e.rhs, env)];
      const ops: Record<string, (a: number, b: number) => number> = {
        add: (x, y) => x + y,
        sub: (x, y) => x - y,
        mul: (x, y) => x * y,
        div: (x, y) => Math.trunc(x / y),
        rem: (x, y) => x % y,
        min: Math.min,
        max: Math.max,
      };
      return ops[e.op]!(a, b);
    }
    default:
      throw new Error(`unexpected ${e.kind}`);
  }
}

describe("index math", () => {
  it("linearize(delinearize(f)) = f on random shapes; bound variables give f back as the same expression", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 4 }), fc.nat(), (shape, seed) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const flat: Expr = { kind: "var", name: "f", type: "i32" };
        const env = new Map([["f", seed % n]]);
        expect(evalIndex(linearize(delinearize(flat, shape), shape), env)).toBe(seed % n);
        let k = 0;
        const bound = delinearizeBound(flat, shape, (e) => {
          const name = `i${k++}`;
          env.set(name, evalIndex(e, env));
          return { kind: "var", name, type: "i32" };
        });
        if (n > 1) expect(linearize(bound, shape)).toBe(flat);
        // Another shape with the same element count is not the same index space.
        const reversed = [...shape].reverse();
        if (reversed.some((d, i) => d !== shape[i])) expect(linearize(bound, reversed)).not.toBe(flat);
      }),
      { numRuns: 100 },
    );
  });

  it("elementwise kernels read same-shape operands at the thread's flat index; transposes still remap", () => {
    const same = compile(
      trace((a: Tensor, b: Tensor) => ops.mul(ops.exp(a), b), spec([6, 10]), spec([6, 10])),
      { target: "js" },
    ).kernels[0]!.source;
    expect(same).not.toMatch(/\/ 10\)|% 10\)/); // no div/mod by the row length left in use
    const transposed = compile(
      trace((a: Tensor, b: Tensor) => ops.mul(ops.transpose(a), b), spec([10, 6]), spec([6, 10])),
      { target: "js" },
    ).kernels[0]!.source;
    expect(transposed).toMatch(/Math\.imul\(i\d+, 6\)|Math\.imul\(\w+, 6\)/);
  });
});

describe("dead-let elimination", () => {
  const v = (name: string): Expr => ({ kind: "var", name, type: "i32" });
  const add = (a: Expr, b: Expr): Expr => ({ kind: "binary", op: "add", lhs: a, rhs: b, type: "i32" });
  const one: Expr = { kind: "const", value: 1, type: "i32" };

  it("drops unread immutable lets transitively, in nested blocks too, and keeps reads, mutables and effects", () => {
    const body: Stmt[] = [
      { kind: "let", name: "a", type: "i32", init: one },
      { kind: "let", name: "b", type: "i32", init: add(v("a"), one) }, // only read by c
      { kind: "let", name: "c", type: "i32", init: add(v("b"), one) }, // never read
      { kind: "let", name: "keep", type: "i32", init: add(one, one) },
      { kind: "let", name: "m", type: "i32", init: one, mutable: true }, // mutable: kept even if unread
      {
        kind: "for",
        var: "k",
        start: one,
        end: v("keep"),
        body: [{ kind: "let", name: "inner", type: "i32", init: v("k") }],
      },
      { kind: "store", buffer: "out", index: v("keep"), value: one },
    ];
    const names = (ss: readonly Stmt[]): string[] =>
      ss.flatMap((s) => (s.kind === "let" ? [s.name] : s.kind === "for" ? names(s.body) : []));
    expect(names(removeDeadLets(body))).toEqual(["keep", "m"]);
  });
});
