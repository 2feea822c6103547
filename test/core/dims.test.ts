/**
 * Dim expressions: normal form (random expression trees evaluate the same
 * before and after normalisation, equal normal forms are the same object),
 * printing, bounds, the public `dims` API, shape rules on expressions
 * (reshape -1, slice, concat, pad), and bind-time checks.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ShapeError,
  add,
  concat,
  dims,
  grad,
  matmul,
  oneHot,
  reshape,
  slice,
  spec,
  sum,
  topK,
  trace,
  type Dim,
  type DimExpr,
  type Tensor,
} from "../../index";
import { evalProgram } from "../../dsl/trace";
import { requireConcrete } from "../../dsl/dims";
import { f64, thrown } from "./helpers";

const NAMES = ["T", "E", "K"] as const;

/** Random hand-written (unnormalised) expression trees over three names. */
const exprArb: fc.Arbitrary<Dim> = fc.letrec<{ e: Dim }>((tie) => ({
  e: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.integer({ min: -4, max: 9 }),
    fc.constantFrom<Dim>(...NAMES),
    fc.record({
      op: fc.constantFrom("add" as const, "mul" as const),
      args: fc.array(tie("e"), { minLength: 1, maxLength: 3 }),
    }),
    fc.record({
      op: fc.constantFrom("floorDiv" as const, "ceilDiv" as const, "mod" as const),
      args: fc.tuple(tie("e"), fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constantFrom<Dim>(...NAMES))),
    }),
    fc.record({
      op: fc.constantFrom("max" as const, "min" as const),
      args: fc.array(tie("e"), { minLength: 1, maxLength: 3 }),
    }),
  ),
})).e;

const envArb = fc
  .tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }))
  .map(
    ([T, E, K]) =>
      new Map([
        ["T", T],
        ["E", E],
        ["K", K],
      ]),
  );

/** Random trees, or linear sums with one division (what shape rules compare: T - ceilDiv(T, 2), ...). */
const provableArb: fc.Arbitrary<Dim> = fc.oneof(
  exprArb,
  fc
    .tuple(
      fc.integer({ min: -3, max: 3 }),
      fc.integer({ min: -3, max: 3 }),
      fc.integer({ min: -2, max: 2 }),
      fc.constantFrom("floorDiv" as const, "ceilDiv" as const),
      fc.integer({ min: 0, max: 4 }),
      fc.integer({ min: -3, max: 3 }),
      fc.integer({ min: 1, max: 5 }),
    )
    .chain(([a, b, c, op, p, q, k]) =>
      // the division's dividend is linear in T, or itself a division of T (ceilDiv(ceilDiv(T,2),2))
      fc.constantFrom<Dim>("T", { op, args: ["T", k] }).map((x): Dim => ({
        op: "add",
        args: [
          { op: "mul", args: [a, x] },
          b,
          { op: "mul", args: [c, { op, args: [{ op: "add", args: [{ op: "mul", args: [p, x] }, q] }, k] }] },
        ],
      })),
    ),
);

/** The reference meaning of a tree, written independently of dims.ts. */
function reference(d: Dim, env: ReadonlyMap<string, number>): number {
  if (typeof d === "number") return d;
  if (typeof d === "string") return env.get(d)!;
  const xs = d.args.map((a) => reference(a, env));
  const [a, b] = xs as [number, number];
  switch (d.op) {
    case "add":
      return xs.reduce((p, q) => p + q, 0);
    case "mul":
      return xs.reduce((p, q) => p * q, 1);
    case "floorDiv":
      return Math.floor(a / b);
    case "ceilDiv":
      return Math.ceil(a / b);
    case "mod":
      return a - b * Math.floor(a / b);
    case "max":
      return Math.max(...xs);
    case "min":
      return Math.min(...xs);
  }
}

describe("dim expressions: normal form", () => {
  it("normalising a random expression keeps its value at random bindings; equal forms are one object", () => {
    fc.assert(
      fc.property(exprArb, fc.array(envArb, { minLength: 3, maxLength: 3 }), (e, envs) => {
        const n = dims.normalize(e);
        for (const env of envs) expect(dims.evaluate(n, env)).toBe(reference(e, env) + 0); // + 0: -0 is 0
        expect(dims.normalize(n)).toBe(n);
        expect(dims.normalize(JSON.parse(JSON.stringify(n)) as Dim)).toBe(n); // serialised bundles come back equal
      }),
      { numRuns: 300 },
    );
  });

  it("sums and products are commutative, associative and distribute after normalisation", () => {
    fc.assert(
      fc.property(exprArb, exprArb, exprArb, envArb, (a, b, c, env) => {
        expect(dims.mul(a, b)).toBe(dims.mul(b, a));
        expect(dims.add(a, dims.add(b, c))).toBe(dims.add(dims.add(a, b), c));
        expect(dims.mul(a, dims.add(b, c))).toBe(dims.add(dims.mul(a, b), dims.mul(a, c)));
        expect(dims.sub(dims.add(a, b), b)).toBe(dims.normalize(a));
        // bounds contain every value
        const v = dims.evaluate(dims.normalize(a), env);
        const { lo, hi } = dims.bounds(a);
        expect(lo <= v && v <= hi).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("examples: folding, exact division, printing", () => {
    expect(dims.mul("T", 2)).toBe(dims.mul(2, "T"));
    expect(dims.equal(dims.mul(dims.add("T", 1), 2), dims.add(dims.mul(2, "T"), 2))).toBe(true);
    expect(dims.format(dims.mul(dims.add("T", 1), 2))).toBe("T*2+2");
    expect(dims.mul("T", 0)).toBe(0);
    expect(dims.add("T", dims.sub(3, "T"))).toBe(3);
    expect(dims.mul("T", 1)).toBe("T");
    expect(dims.floorDiv(dims.add(dims.mul(2, "T"), 3), 2)).toBe(dims.add("T", 1));
    expect(dims.ceilDiv(dims.mul("T", 64), 64)).toBe("T");
    expect(dims.mod(dims.add(dims.mul(4, "T"), 3), 4)).toBe(3);
    expect(dims.max("T", 1)).toBe("T"); // T >= 1
    expect(dims.min("T", dims.mul("T", 2))).toBe("T");
    expect(dims.format(dims.ceilDiv(dims.mul(5, "T"), 4))).toBe("ceilDiv(T*5,4)");
    expect(dims.format(dims.sub("T", 1))).toBe("T-1");
    expect(dims.ceilDiv(dims.mul("T", "E", 4), "E")).toBe(dims.mul("T", 4));
    expect(dims.names(dims.ceilDiv(dims.mul("T", "k"), "E"))).toEqual(["T", "k", "E"]);
  });

  it("bounds decide signs with every named dim >= 1", () => {
    expect(dims.bounds(dims.sub("T", 1))).toEqual({ lo: 0, hi: Infinity });
    expect(dims.provablyAtLeast(dims.mul("T", 2), "T")).toBe(true);
    expect(dims.provablyAtLeast("T", 2)).toBe(false);
    expect(dims.bounds(dims.mod("T", 8))).toEqual({ lo: 0, hi: 7 });
    expect(dims.bounds(dims.ceilDiv("T", 64))).toEqual({ lo: 1, hi: Infinity });
    // divisions keep their link to the dividend (interval bounds alone lose it)
    expect(dims.provablyAtLeast("T", dims.ceilDiv("T", 2))).toBe(true);
    expect(dims.provablyAtLeast(dims.mul("T", 3), dims.ceilDiv(dims.mul("T", 5), 2))).toBe(true);
    expect(dims.provablyAtLeast(dims.floorDiv(dims.mul("T", 3), 2), "T")).toBe(true);
    expect(dims.provablyAtLeast(dims.ceilDiv("T", 2), dims.ceilDiv(dims.ceilDiv("T", 2), 2))).toBe(true); // nested
    expect(dims.provablyAtLeast(dims.ceilDiv("T", 2), "T")).toBe(false);
    expect(dims.provablyAtLeast(dims.mul("T", 3), dims.ceilDiv(dims.mul("T", 7), 2))).toBe(false);
  });

  it("provablyAtLeast is sound: what it proves holds at random bindings of random expressions", () => {
    fc.assert(
      fc.property(
        provableArb,
        fc.oneof(provableArb, fc.constantFrom<Dim>(0, 1, "T")),
        fc.array(envArb, { minLength: 8, maxLength: 8 }),
        (a, b, envs) => {
          let na: Dim, nb: Dim;
          try {
            na = dims.normalize(a);
            nb = dims.normalize(b);
          } catch {
            return true; // a divisor that is not provably positive: no dim to compare
          }
          if (!dims.provablyAtLeast(na, nb)) return true;
          return envs.every((env) => reference(a, env) >= reference(b, env));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("bad expressions are errors naming what was wrong", () => {
    expect(() => dims.floorDiv("T", 0)).toThrow(/divisor 0 is not positive/);
    expect(() => dims.mod("T", dims.sub("E", 1))).toThrow(/not provably positive/);
    expect(() => dims.normalize("not a name")).toThrow(/invalid dim name/);
    expect(() => dims.normalize({ op: "pow", args: [1] } as unknown as DimExpr)).toThrow(/invalid dim/);
    expect(() => requireConcrete(dims.mul("T", 2), "topK", "k is a loop bound")).toThrow(
      /topK: needs a concrete size, got the symbolic dim T\*2 \(k is a loop bound\)/,
    );
  });
});

describe("shape rules on dim expressions", () => {
  it("reshape infers -1 as an expression, prints it, and binds back at run time", () => {
    const p = trace((x: Tensor) => reshape(x, [-1]), spec(["T", 2], "f64"));
    expect(p.outputs[0]!.shape).toEqual([dims.mul("T", 2)]);
    expect(p.toString()).toContain("f64[T*2]");
    const back = trace((x: Tensor) => reshape(x, ["T", -1]), spec([dims.mul("T", 2)], "f64"));
    expect(back.outputs[0]!.shape).toEqual(["T", 2]);
    // x.shape[0] is a dim users compute with
    const q = trace((x: Tensor) => reshape(x, [dims.mul(x.shape[0]!, 2), -1]), spec(["T", 4], "f64"));
    expect(q.outputs[0]!.shape).toEqual([dims.mul("T", 2), 2]);
    for (const T of [1, 3, 5]) {
      const data = Array.from({ length: T * 2 }, (_, i) => i + 1);
      const [y] = evalProgram(p, [f64(data, [T, 2])]);
      expect(y!.shape).toEqual([T * 2]);
      expect(Array.from(y!.dataSync())).toEqual(data);
      const [z] = evalProgram(back, [f64(data, [T * 2])]); // T solved from T*2
      expect(z!.shape).toEqual([T, 2]);
    }
    expect(() => trace((x: Tensor) => reshape(x, [3, -1]), spec(["T", 2]))).toThrow(
      /cannot infer -1 in \[3,-1\] from \[T,2\]: T\*2 elements are not a whole multiple of 3/,
    );
  });

  it("slice, concat and pad compute expressions; their gradients are programs over the same names", () => {
    const f = (x: Tensor) => concat([slice(x, [1]), x], 0);
    const p = trace(f, spec(["T"], "f64"));
    expect(p.outputs[0]!.shape).toEqual([dims.sub(dims.mul("T", 2), 1)]);
    const g = trace(
      grad((x: Tensor) => sum(f(x).mul(f(x)))),
      spec(["T"], "f64"),
    );
    for (const T of [1, 2, 6]) {
      const x = f64(
        Array.from({ length: T }, (_, i) => i + 1),
        [T],
      );
      const [y] = evalProgram(p, [x]);
      expect(y!.shape).toEqual([2 * T - 1]);
      const [dx] = evalProgram(g, [x]);
      const expected = Array.from({ length: T }, (_, i) => 2 * (i + 1) * (i === 0 ? 1 : 2));
      expect(Array.from(dx!.dataSync())).toEqual(expected);
    }
    expect(() => trace((x: Tensor) => slice(x, [2]), spec(["T"]))).toThrow(
      /slice: range \[2, T\) is out of bounds .* must hold for every size >= 1/,
    );
  });

  it("broadcasting and matmul compare dims by their normal form", () => {
    const p = trace(
      (x: Tensor, y: Tensor) => add(reshape(x, [-1]), y),
      spec(["T", 2], "f64"),
      spec([dims.mul(2, "T")], "f64"),
    );
    expect(p.outputs[0]!.shape).toEqual([dims.mul("T", 2)]);
    expect(() => trace((x: Tensor, w: Tensor) => matmul(reshape(x, [-1, 1]), w), spec(["T", 2]), spec([2, 3]))).toThrow(
      ShapeError,
    );
  });
});

describe("where a concrete size is required, the error names the op, the dim and why", () => {
  it("topK: k is concrete and must fit every binding of a symbolic last axis", () => {
    expect(trace((x: Tensor) => topK(x, 1)[0], spec([3, "T"])).outputs[0]!.shape).toEqual([3, 1]);
    expect(trace((x: Tensor) => topK(x, 2)[0], spec([3, dims.add("T", 1)])).outputs[0]!.shape).toEqual([3, 2]);
    // at T = 1 a k of 2 has no second entry to take: rejected when traced, not silently wrong when run
    expect(() => trace((x: Tensor) => topK(x, 2)[0], spec([3, "T"]))).toThrow(
      /topK: k = 2 may exceed the last axis T \(shape \[3,T\]\): named dims are only known to be >= 1.*take k <= 1/,
    );
    expect(() => trace((x: Tensor) => topK(x, "T" as unknown as number)[0], spec([3, "T"]))).toThrow(
      /topK: needs a concrete size, got the symbolic dim T \(k sizes the output/,
    );
  });

  it("oneHot: the depth is concrete", () => {
    expect(() => trace((i: Tensor) => oneHot(i, dims.mul("T", 2) as unknown as number), spec(["T"], "i32"))).toThrow(
      /oneHot: needs a concrete size, got the symbolic dim T\*2 \(the depth n sizes the last axis/,
    );
  });
});

describe("binding dims", () => {
  const p = trace(
    (x: Tensor, y: Tensor) => add(reshape(x, [-1]), y),
    spec(["T", 2], "f64"),
    spec([dims.mul(2, "T")], "f64"),
  );

  it("T = 0 violates T >= 1, and the error names the dim and the input", () => {
    const e = thrown(() => evalProgram(p, [f64([], [0, 2]), f64([], [0])]));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toMatch(/named dim "T" is bound to 0 \(input 0, dim 0\); it violates T >= 1/);
  });

  it("an expression dim that disagrees with the bound size names the expression, both sizes and the binding", () => {
    const e = thrown(() => evalProgram(p, [f64([1, 2, 3, 4], [2, 2]), f64([1, 2], [2])]));
    expect(e.message).toMatch(/input 1, dim 0 has size 2, expected T\*2 = 4 \(T = 2\)/);
  });

  it("a name only inside expressions is solved when linear, and rejected with a reason otherwise", () => {
    const q = trace((x: Tensor) => x.mul(2), spec([dims.add(dims.mul(3, "T"), 1)], "f64"));
    const [y] = evalProgram(q, [f64([1, 2, 3, 4, 5, 6, 7], [7])]);
    expect(y!.shape).toEqual([7]);
    expect(() => evalProgram(q, [f64([1, 2, 3, 4, 5], [5])])).toThrow(/T\*3\+1 cannot equal 5 for an integer T/);
    const r = trace((x: Tensor) => x.mul(2), spec([dims.mul("T", "T")], "f64"));
    expect(() => evalProgram(r, [f64([1, 2, 3, 4], [4])])).toThrow(/cannot bind named dim "T" from input 0, dim 0/);
  });
});

describe("bind-time size checks of compiled bundles", () => {
  it("a buffer that would pass 2^31 - 1 elements at the bound T is an error naming the buffer, its size and T", async () => {
    const { compile } = await import("../../codegen/compile");
    const { runBundle } = await import("../../backends/cpu/runtime");
    const { bindBufferSizes } = await import("../../codegen/bind_sizes");
    const b = compile(
      trace((x: Tensor) => reshape(x.mul(2), [-1]), spec(["T", 64])),
      { target: "js" },
    );
    expect(bindBufferSizes(b, new Map([["T", 3]])).get(b.outputs[0]!)).toBe(192);
    const big = new Map([["T", 2 ** 26]]); // T*64 = 2^32 elements
    expect(() => bindBufferSizes(b, big)).toThrow(
      /with T = 67108864, the element count of buffer \w+ \(input, \[T\*64\]\) is 4294967296, more than the 2\^31 - 1/,
    );
    // the cpu runtime checks before it allocates anything (the ops are named for outputs: test/codegen/bind_errors.test.ts)
    expect(() => runBundle(b, [new Float32Array(0)], big)).toThrow(
      /cpu runtime: with T = 67108864, the element count of buffer \w+ \(input, \[T\*64\]\) is 4294967296/,
    );
  });
});
