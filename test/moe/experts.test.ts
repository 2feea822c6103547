import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { random, tensor, zeros, type Tensor } from "../../index";
import {
  MoeConfigError,
  applyEveryExpert,
  denseFfn,
  everyExpertLogLikelihood,
  ffnExperts,
  gaussianExperts,
  linearExperts,
  linearGaussianExperts,
  logisticExperts,
  multinomialLogisticExperts,
  sharedExpertsOutput,
  swigluExperts,
  uniformGroups,
  type Experts,
  type ProbabilisticExperts,
} from "../../moe/index";
import { FEW, SOME, expectGradsOk, groupsFrom, randn, randomize } from "./helpers";
import { expectClose } from "../helpers/close";
import {
  addV,
  ffnRef,
  linearRef,
  mat,
  mat3,
  relu1,
  sigmoid1,
  softmaxV,
  swigluRef,
  vec,
  vecMat,
  type ExpertFn,
  type Mat,
} from "./reference";

/** Per-expert row counts (0..3 each) for E experts, at least one row in all. */
const groupSizes = fc
  .integer({ min: 1, max: 4 })
  .chain((E) => fc.array(fc.integer({ min: 0, max: 3 }), { minLength: E, maxLength: E }))
  .filter((s) => s.some((n) => n > 0));
const dims = fc.record({
  dIn: fc.integer({ min: 1, max: 3 }),
  dOut: fc.integer({ min: 1, max: 3 }),
  hidden: fc.integer({ min: 1, max: 3 }),
  seed: fc.nat(100_000),
});

interface Family {
  experts: Experts<any>;
  /** Per-token JS reference of expert e. */
  ref: (p: any) => ExpertFn;
}

const gaussianMeanRef =
  (p: { mu: Tensor }): ExpertFn =>
  (e) =>
    mat(p.mu)[e]!;
const logisticRef =
  (p: { w: Tensor; b: Tensor }): ExpertFn =>
  (e, x) => [sigmoid1(vecMat(x, mat3(p.w)[e]!)[0]! + mat(p.b)[e]![0]!)];
const multinomialRef =
  (p: { w: Tensor; b: Tensor }): ExpertFn =>
  (e, x) =>
    softmaxV(addV(vecMat(x, mat3(p.w)[e]!), mat(p.b)[e]!));

const FAMILIES: Record<string, Family> = {
  linear: { experts: linearExperts, ref: (p) => linearRef(mat3(p.w), mat(p.b)) },
  ffn: { experts: ffnExperts, ref: (p) => ffnRef(mat3(p.w1), mat(p.b1), mat3(p.w2), mat(p.b2)) },
  swiglu: { experts: swigluExperts, ref: (p) => swigluRef(mat3(p.wGate), mat3(p.wUp), mat3(p.wDown)) },
  gaussian: { experts: gaussianExperts, ref: gaussianMeanRef },
  linearGaussian: { experts: linearGaussianExperts, ref: (p) => linearRef(mat3(p.a), mat(p.b)) },
  logistic: { experts: logisticExperts, ref: logisticRef },
  multinomial: { experts: multinomialLogisticExperts, ref: multinomialRef },
};

function setup(family: Family, sizes: number[], d: { dIn: number; dOut: number; hidden: number; seed: number }) {
  const E = sizes.length;
  const params = randomize(
    family.experts.init(random.key(0), { numExperts: E, dIn: d.dIn, dOut: d.dOut, hidden: d.hidden }, "f64"),
    d.seed,
    0.7,
  );
  const g = groupsFrom(sizes);
  const x = randn(d.seed + 7, [g.rowExpert.length, d.dIn]);
  return { params, g, x };
}

describe("experts: grouped apply equals the per-token dense reference", () => {
  for (const [name, family] of Object.entries(FAMILIES)) {
    it(name, () => {
      fc.assert(
        fc.property(groupSizes, dims, (sizes, d) => {
          const { params, g, x } = setup(family, sizes, d);
          const y = family.experts.apply(params, x, g);
          const ref = family.ref(params);
          expectClose(
            y,
            mat(x).map((row, r) => ref(g.rowExpert[r]!, row)),
            1e-10,
          );
        }),
        SOME,
      );
    });
  }
});

describe("experts: gradients (checkGrads, f64) through the grouped GEMMs", () => {
  for (const [name, family] of Object.entries(FAMILIES)) {
    it(name, () => {
      fc.assert(
        fc.property(groupSizes, dims, (sizes, d) => {
          const { params, g, x } = setup(family, sizes, d);
          const keys = Object.keys(params);
          const f = (xx: Tensor, ...leaves: Tensor[]) =>
            family.experts.apply(Object.fromEntries(keys.map((k, i) => [k, leaves[i]])), xx, g);
          expectGradsOk(f, [x, ...keys.map((k) => params[k] as Tensor)], d.seed);
        }),
        FEW,
      );
    });
  }
});

/** JS references of the log-likelihoods. */
const LOG_2PI = Math.log(2 * Math.PI);
const LIKELIHOODS: Record<
  string,
  {
    experts: ProbabilisticExperts<any>;
    target: (seed: number, M: number, dOut: number) => Tensor;
    ref: (p: any, e: number, x: number[], y: number[]) => number;
  }
> = {
  gaussian: {
    experts: gaussianExperts,
    target: (s, M, d) => randn(s, [M, d]),
    ref: (p, e, _x, y) => y.reduce((acc, yj, j) => acc - 0.5 * (yj - mat(p.mu)[e]![j]!) ** 2 - 0.5 * LOG_2PI, 0),
  },
  linearGaussian: {
    experts: linearGaussianExperts,
    target: (s, M, d) => randn(s, [M, d]),
    ref: (p, e, x, y) => {
      const m = linearRef(mat3(p.a), mat(p.b))(e, x);
      const lv = mat(p.logVar)[e]!;
      return y.reduce((acc, yj, j) => acc - 0.5 * ((yj - m[j]!) ** 2 / Math.exp(lv[j]!) + lv[j]! + LOG_2PI), 0);
    },
  },
  logistic: {
    experts: logisticExperts,
    target: (s, M) =>
      tensor(
        Array.from({ length: M }, (_, i) => (i * 7 + s) % 2),
        [M, 1],
        "f64",
      ),
    ref: (p, e, x, y) => {
      const q = logisticRef(p)(e, x)[0]!;
      return y[0]! * Math.log(q) + (1 - y[0]!) * Math.log(1 - q);
    },
  },
  multinomial: {
    experts: multinomialLogisticExperts,
    target: (s, M, C) =>
      tensor(
        Array.from({ length: M }, (_, i) => Array.from({ length: C }, (_, c) => ((i + s) % C === c ? 1 : 0))),
        [M, C],
        "f64",
      ),
    ref: (p, e, x, y) => multinomialRef(p)(e, x).reduce((acc, q, c) => acc + y[c]! * Math.log(q), 0),
  },
};

describe("probabilistic experts: log-likelihoods", () => {
  for (const [name, l] of Object.entries(LIKELIHOODS)) {
    it(`${name}: equals the JS density and is gradient-checked`, () => {
      fc.assert(
        fc.property(groupSizes, dims, (sizes, d) => {
          const dOut = name === "logistic" ? 1 : d.dOut;
          const { params, g, x } = setup({ experts: l.experts, ref: () => () => [] }, sizes, { ...d, dOut });
          const y = l.target(d.seed, g.rowExpert.length, dOut);
          const ll = l.experts.logLikelihood(params, x, y, g);
          const ys = mat(y);
          expectClose(
            ll,
            mat(x).map((row, r) => l.ref(params, g.rowExpert[r]!, row, ys[r]!)),
            1e-9,
          );
          const keys = Object.keys(params);
          expectGradsOk(
            (...leaves: Tensor[]) =>
              l.experts.logLikelihood(Object.fromEntries(keys.map((k, i) => [k, leaves[i]])), x, y, g),
            keys.map((k) => params[k]),
            d.seed,
          );
        }),
        FEW,
      );
    });
  }

  it("the linear-Gaussian variance is learned: a wider Σ scores a far point higher", () => {
    const p = { a: zeros([1, 1, 1], "f64"), b: zeros([1, 1], "f64"), logVar: tensor([[0]], [1, 1], "f64") };
    const wide = { ...p, logVar: tensor([[2]], [1, 1], "f64") };
    const g = uniformGroups(1, 1);
    const x = zeros([1, 1], "f64");
    const y = tensor([[3]], [1, 1], "f64");
    expect(linearGaussianExperts.logLikelihood(wide, x, y, g).item()).toBeGreaterThan(
      linearGaussianExperts.logLikelihood(p, x, y, g).item(),
    );
  });
});

describe("dense use: every expert, shared experts", () => {
  it("applyEveryExpert gives [E, T, dOut] = each expert on each token; shared experts sum them", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), dims, (E, T, d) => {
        const params = randomize(
          ffnExperts.init(random.key(0), { numExperts: E, dIn: d.dIn, dOut: d.dOut, hidden: d.hidden }, "f64"),
          d.seed,
        );
        const x = randn(d.seed + 1, [T, d.dIn]);
        const ref = ffnRef(mat3(params.w1), mat(params.b1), mat3(params.w2), mat(params.b2));
        const every = Array.from({ length: E }, (_, e) => mat(x).map((row) => ref(e, row)));
        expectClose(applyEveryExpert(ffnExperts, params, x), every, 1e-10);
        expectClose(
          sharedExpertsOutput(ffnExperts, params, x),
          every.reduce((acc, m) => acc.map((row, t) => addV(row, m[t]!))),
          1e-10,
        );
      }),
      SOME,
    );
  });

  it("applyEveryExpert, sharedExpertsOutput, everyExpertLogLikelihood and denseFfn are gradient-checked", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), dims, (E, T, d) => {
        const p = randomize(
          ffnExperts.init(random.key(0), { numExperts: E, dIn: d.dIn, dOut: d.dOut, hidden: d.hidden }, "f64"),
          d.seed,
        );
        const x = randn(d.seed + 1, [T, d.dIn]);
        expectGradsOk(
          (xx, w1, b1, w2, b2) => applyEveryExpert(ffnExperts, { w1, b1, w2, b2 }, xx),
          [x, p.w1, p.b1, p.w2, p.b2],
          d.seed,
        );
        expectGradsOk(
          (xx, w1, b1, w2, b2) => sharedExpertsOutput(ffnExperts, { w1, b1, w2, b2 }, xx),
          [x, p.w1, p.b1, p.w2, p.b2],
          d.seed,
        );
        const slice0 = (t: Tensor) => t.take(tensor([0], [1], "i32"), 0).squeeze(0);
        expectGradsOk(
          (xx, w1, b1, w2, b2) => denseFfn({ w1, b1, w2, b2 }, xx),
          [x, slice0(p.w1), slice0(p.b1), slice0(p.w2), slice0(p.b2)],
          d.seed,
        );
        const g = randomize(
          linearGaussianExperts.init(random.key(0), { numExperts: E, dIn: d.dIn, dOut: d.dOut }, "f64"),
          d.seed,
          0.5,
        );
        const y = randn(d.seed + 2, [T, d.dOut]);
        expectGradsOk(
          (xx, a, b, logVar) => everyExpertLogLikelihood(linearGaussianExperts, { a, b, logVar }, xx, y),
          [x, g.a, g.b, g.logVar],
          d.seed,
        );
      }),
      FEW,
    );
  });

  it("everyExpertLogLikelihood gives [E, T]", () => {
    const params = randomize(
      linearGaussianExperts.init(random.key(0), { numExperts: 3, dIn: 2, dOut: 2 }, "f64"),
      5,
      0.5,
    );
    const x = randn(1, [4, 2]);
    const y = randn(2, [4, 2]);
    const ll = everyExpertLogLikelihood(linearGaussianExperts, params, x, y);
    const ys = mat(y);
    const ref = LIKELIHOODS.linearGaussian!.ref;
    expectClose(
      ll,
      [0, 1, 2].map((e) => mat(x).map((row, t) => ref(params, e, row, ys[t]!))),
      1e-10,
    );
  });
});

describe("experts: configuration errors", () => {
  const w1 = zeros([3, 4, 5]);
  const b1 = zeros([3, 5]);
  it("mismatched FFN shapes name the tensor, its shape and what was expected", () => {
    expect(() => ffnExperts.dims({ w1, b1, w2: zeros([3, 6, 4]), b2: zeros([3, 4]) })).toThrow(
      /w2 has shape \[3, 6, 4\], expected \[E=3, H=5, dOut\]/,
    );
    expect(() => ffnExperts.dims({ w1, b1, w2: zeros([2, 5, 4]), b2: zeros([2, 4]) })).toThrow(MoeConfigError);
    expect(() => ffnExperts.dims({ w1, b1: zeros([3, 6]), w2: zeros([3, 5, 4]), b2: zeros([3, 4]) })).toThrow(
      /b1 has shape \[3, 6\]/,
    );
    expect(() => swigluExperts.dims({ wGate: w1, wUp: zeros([3, 4, 6]), wDown: zeros([3, 5, 4]) })).toThrow(/wUp/);
    expect(() => linearGaussianExperts.dims({ a: w1, b: b1, logVar: zeros([3, 4]) })).toThrow(
      /logVar has shape \[3, 4\], expected \[E=3, dOut=5\]/,
    );
    expect(() => logisticExperts.dims({ w: zeros([3, 4, 2]), b: zeros([3, 2]) })).toThrow(/expected \[E=3, dIn=4, 1\]/);
    expect(() => linearExperts.dims({ w: zeros([3, 4]), b: b1 })).toThrow(/expected rank 3/);
  });
  it("init rejects missing or invalid sizes", () => {
    expect(() => ffnExperts.init(random.key(0), { numExperts: 2, dIn: 3, dOut: 3 })).toThrow(/dims.hidden is missing/);
    expect(() => linearExperts.init(random.key(0), { numExperts: 0, dIn: 3, dOut: 3 })).toThrow(
      /numExperts = 0 is invalid/,
    );
  });
  it("applyEveryExpert rejects inputs of the wrong width", () => {
    const p = linearExperts.init(random.key(0), { numExperts: 2, dIn: 3, dOut: 1 });
    expect(() => applyEveryExpert(linearExperts, p, zeros([4, 2]))).toThrow(
      /x has 2 features, the experts expect dIn = 3/,
    );
  });
});

// A sanity check of the reference itself, so a wrong reference cannot hide a wrong library.
it("reference: relu and vecMat", () => {
  expect([relu1(-1), relu1(2)]).toEqual([0, 2]);
  expect(
    vecMat([1, 2], [
      [1, 0],
      [0, 1],
    ] as Mat),
  ).toEqual([1, 2]);
  expect(vec(tensor([1, 2]))).toEqual([1, 2]);
});
