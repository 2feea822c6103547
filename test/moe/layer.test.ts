import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jit, random, reshape, spec, tensor, trace, tree, zeros, type Tensor } from "../../index";
import {
  MoeConfigError,
  ffnExperts,
  hashTable,
  linearExperts,
  moeLayer,
  swigluExperts,
  type AuxLossWeights,
  type GateConfig,
  type MoeLayerConfig,
} from "../../moe/index";
import { expectGradsOk, randn, randomize, routingSizes, separated, type RoutingSizes } from "./helpers";
import { expectClose } from "../helpers/close";
import { referenceLayer } from "./layer_reference";
import { ffnRef, mat, mat3, softmaxV, swigluRef, vec, vecMat, type ExpertFn } from "./reference";

const VOCAB = 7;
const GATES = ["softmax", "topK", "topKPlain", "noisyTopK", "gshardTop2", "expertChoice", "hash", "soft"] as const;
type GateName = (typeof GATES)[number];

function gateConfig(name: GateName, s: RoutingSizes, frac: number): GateConfig {
  switch (name) {
    case "softmax":
      return { type: "softmax" };
    case "topK":
      return { type: "topK", k: s.k };
    case "topKPlain":
      return { type: "topK", k: s.k, renormalize: false };
    case "noisyTopK":
      return { type: "noisyTopK", k: s.k };
    case "gshardTop2":
      return { type: "gshardTop2" };
    case "expertChoice":
      return { type: "expertChoice", capacityFactor: Math.max(0.1, frac * s.E) };
    case "hash":
      return { type: "hash", table: hashTable(VOCAB, s.E, { layer: s.seed % 3 }) };
    case "soft":
      return { type: "soft", slotsPerExpert: 1 + (s.seed % 2) };
  }
}

const tokenChoice = (name: GateName) => !["expertChoice", "soft"].includes(name);

function auxWeights(name: GateName): AuxLossWeights {
  const routed = tokenChoice(name) && name !== "hash";
  return {
    ...(routed ? { switch: 0.5, importance: 0.25 } : {}),
    ...(name === "noisyTopK" ? { load: 0.125 } : {}),
    ...(name !== "hash" && name !== "soft" ? { zLoss: 0.01 } : {}),
  };
}

const layerCase = fc.record({
  s: routingSizes({ maxT: 5, maxE: 4 }),
  gate: fc.constantFrom(...GATES),
  capacityFactor: fc.constantFrom(undefined, 0.5, 1, 1.25, 2),
  frac: fc.double({ min: 0.2, max: 1, noNaN: true }),
  swiglu: fc.boolean(),
  shared: fc.boolean(),
  residual: fc.boolean(),
});
type LayerCase = typeof layerCase extends fc.Arbitrary<infer C> ? C : never;

function build(c: LayerCase) {
  const { s } = c;
  const E = c.gate === "gshardTop2" ? Math.max(2, s.E) : s.E;
  const sizes = { ...s, E, k: Math.min(s.k, E) };
  const experts = c.swiglu ? swigluExperts : ffnExperts;
  const config: MoeLayerConfig = {
    numExperts: E,
    gate: gateConfig(c.gate, sizes, c.frac),
    experts: experts as never,
    ...(c.capacityFactor !== undefined && tokenChoice(c.gate) ? { capacityFactor: c.capacityFactor } : {}),
    ...(c.shared ? { shared: { experts: ffnExperts as never, count: 1 + (s.seed % 2) } } : {}),
    auxLossWeights: auxWeights(c.gate),
    residual: c.residual,
  };
  const layer = moeLayer(config);
  const params = randomize(layer.init(random.key(s.seed), { dModel: s.D, hidden: s.H }, "f64"), s.seed, 0.8);
  const x = randn(s.seed + 1, [s.T, s.D]);
  const ctx = {
    key: random.key(s.seed + 2),
    tokenIds: tensor(
      Array.from({ length: s.T }, (_, t) => (t * 5 + s.seed) % VOCAB),
      [s.T],
      "i32",
    ),
  };
  return { config, layer, params, x, ctx, E };
}

/** Whether the routing of a case is locally constant (no near-tie a finite-difference step could flip). */
function stableRouting(c: LayerCase, b: ReturnType<typeof build>): boolean {
  const router = (b.params as { router?: { w?: Tensor; wNoise?: Tensor } }).router;
  if (!router?.w) return true;
  const logits = mat(b.x).map((row) => vecMat(row, mat(router.w!)));
  const probs = logits.map(softmaxV);
  const T = logits.length;
  switch (c.gate) {
    case "noisyTopK": {
      const eps = mat(random.normal(b.ctx.key, [T, b.E], "f64"));
      const std = mat(b.x).map((row) => vecMat(row, mat(router.wNoise!)).map((v) => Math.log1p(Math.exp(v))));
      return separated(logits.map((row, t) => row.map((l, e) => l + eps[t]![e]! * std[t]![e]!)));
    }
    case "gshardTop2": {
      const u = vec(random.uniform(b.ctx.key, [T, 1], { dtype: "f64" }));
      return (
        separated(probs) &&
        probs.every((p, t) => {
          const [a, bb] = [...p].sort((x, y) => y - x);
          return Math.abs(u[t]! - (2 * bb!) / (a! + bb!)) > 1e-5;
        })
      );
    }
    case "expertChoice":
      return separated(Array.from({ length: b.E }, (_, e) => probs.map((p) => p[e]!)));
    default:
      return separated(logits);
  }
}

function expertRef(params: any, swiglu: boolean): ExpertFn {
  return swiglu
    ? swigluRef(mat3(params.wGate), mat3(params.wUp), mat3(params.wDown))
    : ffnRef(mat3(params.w1), mat(params.b1), mat3(params.w2), mat(params.b2));
}

describe("MoE layer: forward equals the dense loop-over-experts reference", () => {
  it("every gate, dropless and with capacity, with shared experts and residual", () => {
    fc.assert(
      fc.property(layerCase, (c) => {
        const { config, layer, params, x, ctx, E } = build(c);
        const { y, report } = layer.apply(params, x, ctx);
        const p = params as any;
        const ref = referenceLayer({
          gate: config.gate,
          numExperts: E,
          ...(config.capacityFactor !== undefined ? { capacityFactor: config.capacityFactor } : {}),
          router: p.router,
          expert: expertRef(p.experts, c.swiglu),
          ...(c.shared
            ? {
                shared: Array.from({ length: config.shared!.count }, () =>
                  ffnRef(mat3(p.shared.w1), mat(p.shared.b1), mat3(p.shared.w2), mat(p.shared.b2)),
                ),
              }
            : {}),
          residual: c.residual,
          x: mat(x),
          dOut: c.s.D,
          ctx,
        });
        expectClose(y, ref.y, 1e-9);
        expect(report.dropFraction.item()).toBeCloseTo(ref.dropFraction, 12);
        expect(report.expertCounts.toArray()).toEqual(ref.counts);
        const total = ref.counts.reduce((a, b) => a + b, 0);
        expectClose(
          report.expertLoad,
          ref.counts.map((n) => n / total),
          1e-12,
        );
        expect(report.maxLoadRatio.item()).toBeCloseTo(Math.max(...ref.counts) / (total / E), 12);
        const w = auxWeights(c.gate);
        const expectedAux = (Object.keys(w) as (keyof AuxLossWeights)[]).reduce(
          (a, name) => a + w[name]! * report.losses[name]!.item(),
          0,
        );
        expect(report.auxLoss.item()).toBeCloseTo(expectedAux, 12);
      }),
      { numRuns: 60 },
    );
  });

  it("accepts leading batch dims: [B, T, D] gives the same as the flattened tokens", () => {
    const layer = moeLayer({ numExperts: 3, gate: { type: "topK", k: 2 }, experts: ffnExperts, capacityFactor: 1.25 });
    const params = randomize(layer.init(random.key(0), { dModel: 2, hidden: 3 }, "f64"), 4);
    const x = randn(1, [2, 3, 2]);
    const batched = layer.apply(params, x).y;
    expect(batched.shape).toEqual([2, 3, 2]);
    expectClose(reshape(batched, [6, 2]), layer.apply(params, reshape(x, [6, 2])).y.toArray(), 1e-14);
  });

  it("with the residual, a token whose assignments are all dropped passes through unchanged", () => {
    // Every token prefers expert 0 (a large router column); capacity 1 keeps only token 0.
    const layer = moeLayer({
      numExperts: 2,
      gate: { type: "topK", k: 1 },
      experts: linearExperts,
      capacityFactor: 0.5,
      residual: true,
    });
    const params = {
      router: { w: tensor([[5, 0]], [1, 2], "f64") },
      experts: randomize(linearExperts.init(random.key(0), { numExperts: 2, dIn: 1, dOut: 1 }, "f64"), 3),
    };
    const x = tensor([[1], [2], [3], [4]], [4, 1], "f64");
    const { y, report } = layer.apply(params, x);
    expect(report.dropFraction.item()).toBeCloseTo(0.75, 12); // C = ceil(0.5·1·4/2) = 1 per expert; all 4 tokens want expert 0
    const ys = mat(y);
    expect(ys[0]![0]).not.toBeCloseTo(1, 6);
    expect([ys[1]![0], ys[2]![0], ys[3]![0]]).toEqual([2, 3, 4]);
  });
});

describe("MoE layer: tracing", () => {
  it("traces to a Program (dispatch as argsort/bincount/raggedMatmul) that jit runs to the eager result", () => {
    const layer = moeLayer({ numExperts: 3, gate: { type: "topK", k: 2 }, experts: ffnExperts });
    const params = randomize(layer.init(random.key(0), { dModel: 2, hidden: 3 }, "f64"), 2);
    const program = trace((p: typeof params, x: Tensor) => layer.apply(p, x).y, params, spec([5, 2], "f64"));
    const prims = new Set(program.eqns.map((e) => e.prim));
    for (const p of ["topKIndices", "argsort", "bincount", "raggedMatmul", "scatterAdd"])
      expect(prims.has(p as never)).toBe(true);
    const x = randn(3, [5, 2]);
    const run = jit((p: typeof params, xx: Tensor) => layer.apply(p, xx).y, { backend: "interp" });
    expectClose(run(params, x), layer.apply(params, x).y.toArray(), 1e-14);
  });

  it("a named token dim traces once for every T; a named feature dim is rejected clearly", () => {
    const layer = moeLayer({ numExperts: 3, gate: { type: "topK", k: 1 }, experts: ffnExperts, capacityFactor: 1 });
    const params = layer.init(random.key(0), { dModel: 2, hidden: 3 });
    const p = trace((p: typeof params, x: Tensor) => layer.apply(p, x).y, params, spec(["T", 2]));
    expect(p.outputs[0]!.shape).toEqual(["T", 2]); // runs at any T: test/moe/symbolic_tokens.test.ts
    expect(() => trace((p: typeof params, x: Tensor) => layer.apply(p, x).y, params, spec([4, "D"]))).toThrow(
      /moeLayer: x has the symbolic dim D at axis 1; only the token count may be symbolic/,
    );
  });
});

describe("MoE layer: gradients (checkGrads, f64) through routing, dispatch, experts, combine and aux losses", () => {
  it("every gate; capacity and dropless", () => {
    fc.assert(
      fc.property(layerCase, (c) => {
        const built = build(c);
        fc.pre(stableRouting(c, built));
        const { layer, params, x, ctx } = built;
        const [leaves, def] = tree.flatten(params);
        const f = (xx: Tensor, ...ls: Tensor[]) => {
          const { y, report } = layer.apply(tree.unflatten(def, ls), xx, ctx);
          return [y, report.auxLoss];
        };
        expectGradsOk(f, [x, ...leaves], c.s.seed);
      }),
      { numRuns: 40 },
    );
  });
});

describe("MoE layer: bad configuration is rejected clearly", () => {
  const base = { numExperts: 4, gate: { type: "topK", k: 2 } as GateConfig, experts: ffnExperts };
  it("at construction", () => {
    expect(() => moeLayer({ ...base, gate: { type: "topK", k: 5 } })).toThrow(
      /k = 5 exceeds the number of experts E = 4/,
    );
    expect(() => moeLayer({ ...base, gate: { type: "noisyTopK", k: 0 } })).toThrow(
      /k = 0 is invalid; expected an integer >= 1/,
    );
    expect(() => moeLayer({ ...base, capacityFactor: 0 })).toThrow(
      /capacityFactor = 0 is invalid; expected a finite number > 0/,
    );
    expect(() => moeLayer({ ...base, capacityFactor: -1.5 })).toThrow(MoeConfigError);
    expect(() => moeLayer({ ...base, gate: { type: "expertChoice", capacityFactor: 2 }, capacityFactor: 1 })).toThrow(
      /capacityFactor applies to token-choice gates/,
    );
    expect(() => moeLayer({ ...base, gate: { type: "expertChoice", capacityFactor: 5 } })).toThrow(/exceeds E = 4/);
    expect(() => moeLayer({ ...base, gate: { type: "bogus" } as never })).toThrow(/unknown gate type "bogus"/);
    expect(() => moeLayer({ ...base, numExperts: 0 })).toThrow(/numExperts = 0 is invalid/);
    expect(() => moeLayer({ ...base, experts: {} as never })).toThrow(/config.experts must be an Experts object/);
    expect(() => moeLayer({ ...base, auxLossWeights: { load: 1 } })).toThrow(/the load loss needs the noisyTopK gate/);
    expect(() =>
      moeLayer({ ...base, gate: { type: "hash", table: hashTable(4, 4) }, auxLossWeights: { switch: 1 } }),
    ).toThrow(/need a token-choice gate with a router/);
    expect(() => moeLayer({ ...base, auxLossWeights: { bogus: 1 } as never })).toThrow(/unknown aux loss "bogus"/);
    expect(() => moeLayer({ ...base, gate: { type: "hash", table: tensor([0, 1]) } })).toThrow(
      /hash table must be a 1-D i32 tensor/,
    );
    expect(() => moeLayer({ ...base, gate: { type: "gshardTop2" }, numExperts: 1 })).toThrow(
      /gshardTop2 needs at least 2 experts/,
    );
  });

  it("at apply: mismatched expert parameter shapes, missing inputs", () => {
    const layer = moeLayer(base);
    const params = layer.init(random.key(0), { dModel: 3, hidden: 5 });
    const x = zeros([4, 3]);
    const bad = { ...params, experts: { ...(params.experts as object), w2: zeros([4, 6, 3]) } };
    expect(() => layer.apply(bad as never, x)).toThrow(/w2 has shape \[4, 6, 3\], expected \[E=4, H=5, dOut\]/);
    const threeExperts = moeLayer({ ...base, numExperts: 3, gate: { type: "topK", k: 1 } }).init(random.key(0), {
      dModel: 3,
      hidden: 5,
    });
    expect(() => layer.apply({ ...params, experts: threeExperts.experts } as never, x)).toThrow(
      /hold 3 experts, the config says numExperts = 4/,
    );
    expect(() => layer.apply(params, zeros([4, 2]))).toThrow(
      /x \[T, D\] has shape \[4, 2\]|the experts take dIn = 3 features, x has 2/,
    );
    expect(() => layer.apply({ experts: params.experts } as never, x)).toThrow(/params.router is missing/);
    const hash = moeLayer({ ...base, gate: { type: "hash", table: hashTable(5, 4) } });
    const hp = hash.init(random.key(0), { dModel: 3, hidden: 5 });
    expect(() => hash.apply(hp, x)).toThrow(/the hash gate needs ctx.tokenIds/);
    expect(() => hash.apply(hp, x, { tokenIds: tensor([0, 1, 2, 9], [4], "i32") })).toThrow(
      /token id 9 .* outside the hash table of 5 entries/,
    );
    const res = moeLayer({ ...base, residual: true });
    expect(() => res.apply(res.init(random.key(0), { dModel: 3, hidden: 5, dOut: 2 }), x)).toThrow(
      /residual needs dOut = dModel/,
    );
    const shared = moeLayer({ ...base, shared: { experts: ffnExperts, count: 2 } });
    const sp = shared.init(random.key(0), { dModel: 3, hidden: 5 });
    expect(() => shared.apply({ ...sp, shared: params.experts } as never, x)).toThrow(
      /params.shared holds 4 experts, the config says shared.count = 2/,
    );
  });
});
