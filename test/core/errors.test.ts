/**
 * Bad input gets a clear error: each test asserts that the message names the
 * op, what was wrong and what was expected; shape errors raised while tracing
 * (and eagerly) also carry the caller's file:line, i.e. a line of this file.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  PytreeError,
  ShapeError,
  add,
  gather,
  getBackend,
  grad,
  jit,
  matmul,
  reshape,
  scatterAdd,
  spec,
  sum,
  take,
  topK,
  trace,
  tree,
  valueAndGrad,
  vjp,
  zeros,
  type Tensor,
} from "../../index";
import { f64, here, i32, thrown } from "./helpers";

const THIS_FILE = fileURLToPath(import.meta.url);

/** Asserts that an error message points at `THIS_FILE:line`. */
function expectCallSite(e: Error, line: number): void {
  expect(e.message).toContain(`${THIS_FILE}:${line}:`);
}

const x23 = f64([1, 2, 3, 4, 5, 6], [2, 3]);

describe("shape mismatches", () => {
  it("elementwise: names the op, both shapes, the clashing dim, what is expected, and the call site (eager)", () => {
    const [e, line] = [thrown(() => add(x23, f64([1, 2, 3, 4], [4]))), here()];
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toContain(
      "add: shapes [2,3] and [4] do not broadcast (dim 1: 3 vs 4); expected equal sizes or 1",
    );
    expectCallSite(e, line);
  });

  it("elementwise while tracing: the call site is the line in the traced function", () => {
    let line = 0;
    const e = thrown(() =>
      trace(
        (a: Tensor, b: Tensor) => {
          line = here() + 1;
          return a.mul(b);
        },
        spec([2, 3]),
        spec([3, 2]),
      ),
    );
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toContain("mul: shapes [2,3] and [3,2] do not broadcast (dim 0: 2 vs 3)");
    expectCallSite(e, line);
  });

  it("named dims that differ do not broadcast while tracing", () => {
    let line = 0;
    const e = thrown(() =>
      trace(
        (a: Tensor, b: Tensor) => {
          line = here() + 1;
          return add(a, b);
        },
        spec(["T", 4]),
        spec(["S", 4]),
      ),
    );
    expect(e.message).toContain("add: shapes [T,4] and [S,4] do not broadcast (dim 0: T vs S)");
    expectCallSite(e, line);
  });

  it("matmul inner dims: names both shapes and both sizes (traced)", () => {
    let line = 0;
    const e = thrown(() =>
      trace(
        (a: Tensor, b: Tensor) => {
          line = here() + 1;
          return matmul(a, b);
        },
        spec(["T", 3]),
        spec([4, 5]),
      ),
    );
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toContain("matmul: inner dims differ: [T,3] @ [4,5] (3 vs 4)");
    expectCallSite(e, line);
  });

  it("reshape: names both shapes and both element counts", () => {
    const [e, line] = [thrown(() => reshape(x23, [4, 2])), here()];
    expect(e.message).toContain("reshape: cannot reshape [2,3] (6 elements) to [4,2] (8 elements)");
    expectCallSite(e, line);
  });

  it("a named dim bound to two sizes when a program runs", () => {
    const p = trace((a: Tensor, b: Tensor) => add(a, b), spec(["T", 3], "f64"), spec(["T", 3], "f64"));
    const e = thrown(() => getBackend("interp").run(p, [x23, f64(new Float64Array(9), [3, 3])]));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toContain(
      'named dim "T" is bound to 2 (input 0, dim 0) and to 3 (input 1, dim 0); a named dim must have one size',
    );
  });
});

describe("dtype mismatches", () => {
  it("elementwise f64 + i32: names the op, both dtypes and the fix", () => {
    const [e, line] = [thrown(() => add(x23, i32([1, 2, 3], [3]))), here()];
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toContain('add: operand dtypes f64 and i32 differ; cast one operand (e.g. x.cast("f64"))');
    expectCallSite(e, line);
  });

  it("matmul f32 @ f64 while tracing", () => {
    let line = 0;
    const e = thrown(() =>
      trace(
        (a: Tensor, b: Tensor) => {
          line = here() + 1;
          return matmul(a, b);
        },
        spec([2, 3], "f32"),
        spec([3, 2], "f64"),
      ),
    );
    expect(e.message).toContain("matmul: operand dtypes f32 and f64 differ; cast one operand first");
    expectCallSite(e, line);
  });

  it("indices that are not i32", () => {
    const e = thrown(() => take(x23, f64([0, 1], [2])));
    expect(e.message).toContain("take: indices have dtype f64, expected i32");
  });
});

describe("pytrees", () => {
  it("a non-tensor leaf: names the transform, the path to the leaf, what it is, and what to do", () => {
    const loss = (p: { w: Tensor; lr: unknown }) => sum(p.w);
    const e = thrown(() => grad(loss)({ w: x23, lr: 0.1 }));
    expect(e).toBeInstanceOf(PytreeError);
    expect(e.message).toContain("grad: argument 0.lr: a pytree leaf must be a Tensor, got number (0.1)");
    expect(e.message).toContain("wrap numbers with tensor(...)");
  });

  it("the same in jit, vjp and tree.map (a string, a Date)", () => {
    expect(thrown(() => jit((a: Tensor, _s: unknown) => a)(x23, "hi")).message).toMatch(
      /args\[1\]: a pytree leaf must be a Tensor, got string/,
    );
    expect(thrown(() => vjp((a: { x: Tensor }) => a.x, { x: x23, when: new Date(0) } as never)).message).toMatch(
      /vjp: argument 0\.when: a pytree leaf must be a Tensor, got Date/,
    );
    expect(thrown(() => tree.map((t) => t, { a: [x23, 3] })).message).toMatch(
      /tree\.a\[1\]: a pytree leaf must be a Tensor, got number \(3\)/,
    );
  });
});

describe("grad of a non-scalar output", () => {
  it("names the transform, the output's dtype and shape, what was expected and the alternatives", () => {
    const [e, line] = [thrown(() => grad((a: Tensor) => a.mul(2))(x23)), here()];
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toContain("grad: f must return a scalar float tensor (shape []), got f64[2,3]");
    expect(e.message).toContain("reduce it (e.g. .sum() or .mean()) or use vjp for non-scalar outputs");
    expectCallSite(e, line);
    expect(thrown(() => valueAndGrad((a: Tensor) => sum(a).cast("i32"))(x23)).message).toContain("got i32[]");
  });
});

describe("indices out of range (interpreter)", () => {
  it("take: names the op, the bad index, the axis and its size, and the valid range", () => {
    const [e, line] = [thrown(() => take(x23, i32([0, 3], [2]), 1)), here()];
    expect(e).toBeInstanceOf(RangeError);
    expect(e.message).toContain("take: index 3 is out of range for axis 1 of size 3; expected 0 <= index < 3");
    expectCallSite(e, line);
    expect(thrown(() => take(x23, i32([-1], [1]), 0)).message).toContain(
      "take: index -1 is out of range for axis 0 of size 2",
    );
  });

  it("gather", () => {
    const e = thrown(() => gather(x23, i32([0, 1, 2, 0, 1, 5], [2, 3]), 1));
    expect(e.message).toContain("gather: index 5 is out of range for axis 1 of size 3; expected 0 <= index < 3");
  });

  it("scatterAdd", () => {
    const e = thrown(() => scatterAdd(x23, i32([2], [1]), f64([1, 1, 1], [1, 3]), 0));
    expect(e.message).toContain("scatterAdd: index 2 is out of range for axis 0 of size 2; expected 0 <= index < 2");
  });

  it("an index out of range in a jitted program fails the same way", () => {
    const f = jit((a: Tensor, idx: Tensor) => take(a, idx));
    expect(thrown(() => f(x23, i32([7], [1]))).message).toContain("take: index 7 is out of range for axis 0 of size 2");
  });
});

describe("topK", () => {
  it("k > size: names the op, k, the axis size and shape, and the valid range (eager)", () => {
    const [e, line] = [thrown(() => topK(x23, 4)), here()];
    expect(e).toBeInstanceOf(RangeError);
    expect(e.message).toContain(
      "topK: k = 4 is out of range for the last axis of size 3 (shape [2,3]); expected 1 <= k <= 3",
    );
    expectCallSite(e, line);
  });

  it("k > size while tracing, and k = 0", () => {
    let line = 0;
    const e = thrown(() =>
      trace(
        (a: Tensor) => {
          line = here() + 1;
          return topK(a, 9)[0];
        },
        spec(["T", 8]),
      ),
    );
    expect(e.message).toContain(
      "topK: k = 9 is out of range for the last axis of size 8 (shape [T,8]); expected 1 <= k <= 8",
    );
    expectCallSite(e, line);
    expect(thrown(() => topK(zeros([5]), 0)).message).toContain("topK: k = 0 is out of range");
  });
});
