/**
 * The integer-facts analysis alone: what it proves (ranges, index functions,
 * permutations, slot functions, valid counts, counting-sort plans) on the MoE
 * routing patterns, what it refuses to prove, and a property test that every
 * index function it derives for random iota / reshape / broadcast chains
 * matches the interpreter's values.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { analyzeValueFacts, composeIndexFn, preimage, type IndexFn } from "../../codegen/analysis/value_facts";
import { optimize } from "../../codegen/passes/pipeline";
import { evalDim } from "../../dsl/dims";
import { bind, evalProgram } from "../../dsl/trace";
import {
  add,
  arange,
  argsort,
  bincount,
  broadcastTo,
  reshape,
  scatterAdd,
  spec,
  take,
  topK,
  trace,
  transpose,
  type Tensor,
} from "../../index";
import type { Program, Var } from "../../dsl/program";

const iota = (shape: number[] | [string], axis: number): Tensor => bind("iota", [], { shape, axis, dtype: "i32" });
const varOf = (p: Program, prim: string, nth = 0): Var => p.eqns.filter((e) => e.prim === prim)[nth]!.out;
const fnValue = (fn: IndexFn, s: number, env = new Map<string, number>()) => {
  const q = Math.floor(s / evalDim(fn.div, env));
  return fn.mod === undefined ? q : q % evalDim(fn.mod, env);
};

describe("value facts", () => {
  it("token-major slots: floor(s / K) through a permutation, counts of in-range keys, a counting-sort plan", () => {
    for (const T of [12, "T"] as const) {
      const p = optimize(
        trace(
          (logits: Tensor) => {
            const experts = reshape(topK(logits, 2)[1], [-1]);
            const order = argsort(experts);
            const slotToken = reshape(
              broadcastTo(reshape(arange(logits.shape[0]!), [-1, 1]), [logits.shape[0]!, 2]),
              [-1],
            );
            return [take(slotToken, order), bincount(experts, 8), bincount(experts, 3)];
          },
          spec([T, 8]),
        ),
      );
      const f = analyzeValueFacts(p);
      const keys = varOf(p, "reshape", 0);
      const order = varOf(p, "argsort");
      expect(f.range(keys)).toBe(8);
      expect(f.permutation(order)).toBe(true);
      const tokenOf = varOf(p, "take");
      const slot = f.slotFn(tokenOf)!;
      expect(slot.perm).toBe(order);
      expect(fnValue(slot.fn, 7)).toBe(3);
      expect(f.range(tokenOf)).toBe(T);
      expect(f.counts(varOf(p, "bincount", 0))).toBeDefined();
      expect(f.counts(varOf(p, "bincount", 1))).toBeUndefined(); // keys go up to 7: not all counted
      const plan = f.countingSortOfPerm(order)!;
      expect(plan.bins).toBe(8);
      expect(plan.counts).toHaveLength(1);
      expect(f.countingSortOfKeys(keys)).toBe(plan);
      expect(preimage(slot, T)?.perTarget).toBe(2);
    }
  });

  it("segment sums: scatterAdds along axis 0 through the sorted keys, onto at least the keys' range, ascending", () => {
    for (const descending of [false, true]) {
      const p = trace(
        (logits: Tensor, bias: Tensor, short: Tensor, u: Tensor) => {
          const keys = reshape(topK(logits, 2)[1], [-1]);
          const sorted = take(keys, argsort(keys, 0, descending));
          // The bias gradient's pattern; a target axis shorter than the keys' range; an index that is not sorted.
          return [scatterAdd(bias, sorted, u), scatterAdd(short, sorted, u), scatterAdd(bias, keys, u)];
        },
        spec([5, 8]),
        spec([8, 3]),
        spec([7, 3]),
        spec([10, 3]),
      );
      const f = analyzeValueFacts(p);
      const [bias, short, unsorted] = p.outputs as Var[];
      const plan = f.countingSortOfPerm(varOf(p, "argsort"));
      expect(plan).toBeDefined();
      expect(f.countingSortOfSegmentSum(bias!)).toBe(descending ? undefined : plan);
      expect(plan!.segmentSums.map((e) => e.out)).toEqual(descending ? [] : [bias]);
      expect(f.countingSortOfSegmentSum(short!)).toBeUndefined();
      expect(f.countingSortOfSegmentSum(unsorted!)).toBeUndefined();
    }
  });

  it("topK rows: the picks of a topK and their 1-D flattening, not other reshapes or takes", () => {
    const p = trace(
      (scores: Tensor) => {
        const picks = topK(scores, 3)[1];
        return [picks, reshape(picks, [-1]), reshape(picks, [6, 3]), take(reshape(picks, [-1]), arange(4))];
      },
      spec([2, 3, 7]),
    );
    const f = analyzeValueFacts(p);
    const [picks, flat, regrouped, taken] = p.outputs as Var[];
    expect(f.topKRows(picks!)).toEqual({ indices: picks, rows: 6, k: 3, n: 7 });
    expect(f.topKRows(flat!)).toEqual(f.topKRows(picks!));
    expect(f.topKRows(regrouped!)).toBeUndefined();
    expect(f.topKRows(taken!)).toBeUndefined();
  });

  it("choice-major slots: s mod T (iota broadcast along a leading axis)", () => {
    const p = trace(
      (x: Tensor) => reshape(broadcastTo(reshape(iota([x.shape[0]! as string], 0), [1, -1]), [3, x.shape[0]!]), [-1]),
      spec(["T"]),
    );
    const f = analyzeValueFacts(p);
    const fn = f.indexFn(p.outputs[0]!)!;
    expect(fn.div).toBe(1);
    expect(fn.mod).toBe("T");
    expect(preimage(f.slotFn(p.outputs[0]!)!, "T")?.perTarget).toBe(3);
    expect(preimage(f.slotFn(p.outputs[0]!)!, 5)).toBeUndefined(); // the targets are T, not 5
  });

  it("refuses what it cannot prove", () => {
    const p = trace(
      (x: Tensor, i: Tensor) => {
        const t = transpose(reshape(iota([6], 0), [2, 3]));
        return [take(arange(6), i), reshape(t, [-1]), add(i, 1), bincount(i, 4), argsort(x)];
      },
      spec([6]),
      spec([6], "i32"),
    );
    const f = analyzeValueFacts(p);
    const [picked, transposed, shifted, counts, sorted] = p.outputs as Var[];
    expect(f.slotFn(picked!)).toBeUndefined(); // i is no permutation
    expect(f.indexFn(transposed!)).toBeUndefined();
    expect(f.range(shifted!)).toBeUndefined();
    expect(f.counts(counts!)).toBeUndefined(); // i's range is unknown
    expect(f.permutation(sorted!)).toBe(true);
    expect(f.countingSortOfPerm(sorted!)).toBeUndefined(); // float keys
  });

  it("composeIndexFn: floor((floor(s/A) mod B) / a) mod b", () => {
    expect(composeIndexFn({ div: 2 }, { div: 3 })).toEqual({ div: 6 });
    expect(composeIndexFn({ div: 1, mod: 6 }, { div: 2 })).toEqual({ div: 2, mod: 3 });
    expect(composeIndexFn({ div: 1, mod: 6 }, { div: 4 })).toBeUndefined(); // 4 does not divide 6
    expect(composeIndexFn({ div: 1, mod: 6 }, { div: 1, mod: 4 })).toBeUndefined();
  });

  it("property: the index function of a random iota / reshape / broadcast chain matches its values", () => {
    const shapeArb = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 });
    fc.assert(
      fc.property(shapeArb, fc.nat(), fc.array(fc.nat(), { maxLength: 3 }), (shape, axisSeed, steps) => {
        const axis = axisSeed % shape.length;
        const p = trace(() => {
          let v: Tensor = iota(shape, axis);
          for (const s of steps) {
            const dims = v.shape as number[];
            const n = dims.reduce((a, b) => a * b, 1);
            if (s % 3 === 0) v = reshape(v, [n]);
            else if (s % 3 === 1) v = broadcastTo(reshape(v, [1, n]), [1 + (s % 3), n]);
            else v = broadcastTo(reshape(v, [n, 1]), [n, 1 + (s % 4)]);
          }
          return v;
        });
        const out = p.outputs[0]!;
        const fn = analyzeValueFacts(p).indexFn(out);
        const data = evalProgram(p, [])[0]!._value().data;
        // Every chain of these steps keeps an index function (the broadcasts add contiguous runs).
        expect(fn).toBeDefined();
        for (let s = 0; s < data.length; s++) expect(fnValue(fn!, s)).toBe(data[s]);
      }),
      { numRuns: 200 },
    );
  });
});
