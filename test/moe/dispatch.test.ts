import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { random, tensor, type Tensor } from "../../index";
import {
  MoeConfigError,
  combineRows,
  dispatchRows,
  expertCapacity,
  linearExperts,
  planExpertChoice,
  planTokenChoice,
  type TokenChoice,
} from "../../moe/index";
import { FEW, SOME, expectGradsOk, randn, randomize } from "./helpers";
import { expectClose } from "../helpers/close";
import { denseCombine, linearRef, mat, mat3, type Assignment } from "./reference";

/** A random token-choice routing: k distinct experts per token, random weights, optionally a random mask. */
const routingCase = fc
  .record({
    T: fc.integer({ min: 1, max: 6 }),
    E: fc.integer({ min: 1, max: 4 }),
    kRaw: fc.integer({ min: 1, max: 3 }),
    D: fc.integer({ min: 1, max: 2 }),
    seed: fc.nat(100_000),
    masked: fc.boolean(),
  })
  .chain((c) => {
    const k = Math.min(c.kRaw, c.E);
    const perm = fc.shuffledSubarray(
      Array.from({ length: c.E }, (_, e) => e),
      { minLength: k, maxLength: k },
    );
    return fc.record({
      c: fc.constant({ ...c, k }),
      experts: fc.array(perm, { minLength: c.T, maxLength: c.T }),
      mask: fc.array(fc.array(fc.boolean(), { minLength: k, maxLength: k }), { minLength: c.T, maxLength: c.T }),
      capacityFactor: fc.constantFrom(0.5, 1, 1.25, 2),
    });
  });

function buildRouting(experts: number[][], E: number, seed: number, mask?: boolean[][]): TokenChoice {
  const T = experts.length;
  const k = experts[0]!.length;
  return {
    kind: "tokenChoice",
    numExperts: E,
    experts: tensor(experts, [T, k], "i32"),
    weights: randn(seed, [T, k]).abs(),
    ...(mask ? { mask: tensor(mask, [T, k], "bool") } : {}),
  };
}

/** Assignments in the dispatch's priority order: choice-major, token order within a choice. */
function assignmentsOf(r: TokenChoice): Assignment[] {
  const ex = r.experts.toArray() as number[][];
  const w = mat(r.weights);
  const m = r.mask ? (r.mask.toArray() as number[][]) : undefined;
  const out: Assignment[] = [];
  for (let j = 0; j < ex[0]!.length; j++)
    ex.forEach((row, t) => (m && !m[t]![j] ? null : out.push({ token: t, expert: row[j]!, weight: w[t]![j]! })));
  return out;
}

describe("expert capacity", () => {
  it("C = ceil(c·k·T/E), at least 1", () => {
    expect(expertCapacity(1, 1, 16, 4)).toBe(4);
    expect(expertCapacity(1.25, 1, 16, 4)).toBe(5);
    expect(expertCapacity(2, 2, 10, 4)).toBe(10);
    expect(expertCapacity(1.1, 1, 10, 1)).toBe(11);
    expect(expertCapacity(0.01, 1, 3, 8)).toBe(1);
  });
  it("rejects capacity factor <= 0", () => {
    expect(() => expertCapacity(0, 1, 4, 2)).toThrow(MoeConfigError);
    expect(() => expertCapacity(-1, 1, 4, 2)).toThrow(/capacityFactor = -1 is invalid; expected a finite number > 0/);
  });
});

describe("token-choice dispatch and combine", () => {
  it("capacity mode equals the sequential-admission reference (outputs, drop fraction, counts)", () => {
    fc.assert(
      fc.property(routingCase, ({ c, experts, mask, capacityFactor }) => {
        const r = buildRouting(experts, c.E, c.seed, c.masked ? mask : undefined);
        const params = randomize(
          linearExperts.init(random.key(0), { numExperts: c.E, dIn: c.D, dOut: 2 }, "f64"),
          c.seed,
        );
        const x = randn(c.seed + 5, [c.T, c.D]);
        const C = expertCapacity(capacityFactor, c.k, c.T, c.E);
        const plan = planTokenChoice(r, { capacity: C });
        const y = combineRows(linearExperts.apply(params, dispatchRows(x, plan), plan.groups), plan);
        const assignments = assignmentsOf(r);
        const ref = denseCombine(mat(x), assignments, linearRef(mat3(params.w), mat(params.b)), 2, C);
        expectClose(y, ref.y, 1e-10);
        expect(plan.dropFraction.item()).toBeCloseTo(ref.dropFraction, 12);
        expect(plan.expertCounts.toArray()).toEqual(
          Array.from({ length: c.E }, (_, e) => assignments.filter((a) => a.expert === e).length),
        );
        expect(plan.rowToken.shape).toEqual([c.E * C]);
      }),
      SOME,
    );
  });

  it("dropless mode keeps every assignment and sorts rows by expert", () => {
    fc.assert(
      fc.property(routingCase, ({ c, experts, mask }) => {
        const r = buildRouting(experts, c.E, c.seed, c.masked ? mask : undefined);
        const params = randomize(
          linearExperts.init(random.key(0), { numExperts: c.E, dIn: c.D, dOut: 2 }, "f64"),
          c.seed,
        );
        const x = randn(c.seed + 5, [c.T, c.D]);
        const plan = planTokenChoice(r);
        const y = combineRows(linearExperts.apply(params, dispatchRows(x, plan), plan.groups), plan);
        const ref = denseCombine(mat(x), assignmentsOf(r), linearRef(mat3(params.w), mat(params.b)), 2);
        expectClose(y, ref.y, 1e-10);
        expect(plan.dropFraction.item()).toBe(0);
        const ids = plan.groups.ids.toArray() as number[];
        expect(ids).toEqual([...ids].sort((a, b) => a - b));
      }),
      SOME,
    );
  });

  it("gradients flow to x, the routing weights and the experts through dispatch and combine (both modes)", () => {
    fc.assert(
      fc.property(routingCase, ({ c, experts, capacityFactor }) => {
        const r = buildRouting(experts, c.E, c.seed);
        const params = randomize(
          linearExperts.init(random.key(0), { numExperts: c.E, dIn: c.D, dOut: 2 }, "f64"),
          c.seed,
        );
        const x = randn(c.seed + 5, [c.T, c.D]);
        for (const capacity of [undefined, expertCapacity(capacityFactor, c.k, c.T, c.E)]) {
          const f = (xx: Tensor, ww: Tensor, w: Tensor, b: Tensor) => {
            const plan = planTokenChoice({ ...r, weights: ww }, capacity === undefined ? {} : { capacity });
            return combineRows(linearExperts.apply({ w, b }, dispatchRows(xx, plan), plan.groups), plan);
          };
          expectGradsOk(f, [x, r.weights, params.w, params.b], c.seed);
        }
      }),
      FEW,
    );
  });
});

describe("expert-choice dispatch", () => {
  it("each expert's rows are its picked tokens; drop fraction = tokens nobody picked", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.nat(10_000),
        (T, E, cRaw, seed) => {
          const c = Math.min(cRaw, T);
          const picks = Array.from({ length: E }, (_, e) =>
            Array.from({ length: c }, (_, j) => (e * 7 + j * 3 + seed) % T),
          );
          const weights = randn(seed, [E, c]);
          const plan = planExpertChoice(
            {
              kind: "expertChoice",
              numExperts: E,
              tokens: tensor(picks, [E, c], "i32"),
              weights,
              logits: weights,
              probs: weights,
            },
            T,
          );
          const params = randomize(linearExperts.init(random.key(0), { numExperts: E, dIn: 2, dOut: 1 }, "f64"), seed);
          const x = randn(seed + 1, [T, 2]);
          const y = combineRows(linearExperts.apply(params, dispatchRows(x, plan), plan.groups), plan);
          const w = mat(weights);
          const assignments = picks.flatMap((ts, e) => ts.map((t, j) => ({ token: t, expert: e, weight: w[e]![j]! })));
          expectClose(y, denseCombine(mat(x), assignments, linearRef(mat3(params.w), mat(params.b)), 1).y, 1e-10);
          const unpicked = Array.from({ length: T }, (_, t) => t).filter((t) => !picks.flat().includes(t)).length;
          expect(plan.dropFraction.item()).toBeCloseTo(unpicked / T, 12);
        },
      ),
      SOME,
    );
  });
});
