/**
 * Counter-based PRNG (Threefry-2x32):
 * - known answers: the Random123 test vectors for threefry2x32 with 20 rounds,
 *   both for the block function and through random.bits (the whole chain);
 * - determinism: same key -> same bits (eager and traced/jitted alike);
 * - split keys give distinct keys and uncorrelated streams;
 * - uniform lies in [0, 1) (and [minval, maxval)); moments of uniform, normal,
 *   bernoulli and categorical match within 5 standard errors.
 *
 * Statistical tolerances: for n i.i.d. draws the sample mean has standard
 * error sd/sqrt(n), the sample variance of a normal ~ sqrt(2/n), and a sample
 * correlation of independent streams ~ 1/sqrt(n). A 5-sigma bound fails by
 * chance with probability ~6e-7 per check, so the random seeds fast-check
 * draws make these checks stronger over time without making them flaky.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jit, random, softmax, tensor, type Tensor } from "../../index";
import { threefry2x32 } from "../../dsl/primitives/random";
import { numelOf, shapeArb, values } from "./helpers";

const u32 = (x: number) => x >>> 0;
const seedArb = fc.nat({ max: 2 ** 31 - 1 });

/** Random123's kat_vectors for threefry2x32_20: [counter, key, expected output]. */
const KAT: readonly [[number, number], [number, number], [number, number]][] = [
  [
    [0x00000000, 0x00000000],
    [0x00000000, 0x00000000],
    [0x6b200159, 0x99ba4efe],
  ],
  [
    [0xffffffff, 0xffffffff],
    [0xffffffff, 0xffffffff],
    [0x1cb996fc, 0xbb002be7],
  ],
  [
    [0x243f6a88, 0x85a308d3],
    [0x13198a2e, 0x03707344],
    [0xc4923a9c, 0x483df7a0],
  ],
];

function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return s / xs.length;
}

function variance(xs: ArrayLike<number>): number {
  const m = mean(xs);
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += (xs[i]! - m) ** 2;
  return s / (xs.length - 1);
}

function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const ma = mean(a);
  const mb = mean(b);
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

describe("threefry2x32 known answers (Random123)", () => {
  it.each(KAT)("counter %j key %j", ([c0, c1], [k0, k1], [w0, w1]) => {
    expect(threefry2x32(k0, k1, c0, c1).map(u32)).toEqual([w0, w1]);
  });

  it("random.bits of a key draws word i of threefry(key, counter (0, i >> 1)): the all-zero vector end to end", () => {
    const key = tensor([0, 0], [2], "i32");
    expect(Array.from(random.bits(key, [2]).dataSync(), u32)).toEqual([0x6b200159, 0x99ba4efe]);
    // Counter (0, 1) continues the stream: elements 2 and 3.
    const four = Array.from(random.bits(key, [4]).dataSync(), u32);
    expect(four.slice(2)).toEqual(threefry2x32(0, 0, 0, 1).map(u32));
    // The pi-digits key, through the i32 key tensor (two's complement words).
    const piKey = tensor([0x13198a2e, 0x03707344], [2], "i32");
    expect(Array.from(random.bits(piKey, [2]).dataSync(), u32)).toEqual(
      threefry2x32(0x13198a2e, 0x03707344, 0, 0).map(u32),
    );
  });
});

describe("determinism", () => {
  it("the same key gives the same bits, eagerly and through jit (25 runs)", () => {
    fc.assert(
      fc.property(seedArb, shapeArb(0, 3, 1, 5), (seed, shape) => {
        const a = random.bits(random.key(seed), shape).dataSync();
        const b = random.bits(random.key(seed), shape).dataSync();
        expect(Array.from(b)).toEqual(Array.from(a));
        const jitted = jit((k: Tensor) => random.bits(k, shape));
        expect(Array.from(jitted(random.key(seed)).dataSync())).toEqual(Array.from(a));
        const n = jit((k: Tensor) => random.normal(k, shape, "f64"))(random.key(seed));
        expect(Array.from(values(n))).toEqual(Array.from(values(random.normal(random.key(seed), shape, "f64"))));
      }),
      { numRuns: 25 },
    );
  });

  it("different seeds give different bits (25 runs)", () => {
    fc.assert(
      fc.property(seedArb, seedArb, (s1, s2) => {
        fc.pre(s1 !== s2);
        const a = random.bits(random.key(s1), [8]).dataSync();
        const b = random.bits(random.key(s2), [8]).dataSync();
        expect(Array.from(a)).not.toEqual(Array.from(b));
      }),
      { numRuns: 25 },
    );
  });
});

describe("split", () => {
  it("gives distinct keys whose streams are uncorrelated (within 5/sqrt(n)) (10 runs)", () => {
    const n = 4096;
    fc.assert(
      fc.property(seedArb, fc.integer({ min: 2, max: 5 }), (seed, count) => {
        const parent = random.key(seed);
        const keys = random.split(parent, count);
        expect(keys).toHaveLength(count);
        const keyStrings = new Set([parent, ...keys].map((k) => Array.from(k.dataSync()).join(",")));
        expect(keyStrings.size).toBe(count + 1);
        const streams = keys.map((k) => values(random.uniform(k, [n], { dtype: "f64" })));
        for (let i = 0; i < count; i++)
          for (let j = i + 1; j < count; j++)
            expect(Math.abs(correlation(streams[i]!, streams[j]!))).toBeLessThan(5 / Math.sqrt(n));
        // Splitting is deterministic too.
        expect(random.split(parent, count).map((k) => Array.from(k.dataSync()))).toEqual(
          keys.map((k) => Array.from(k.dataSync())),
        );
      }),
      { numRuns: 10 },
    );
  });
});

describe("distributions", () => {
  it("uniform lies in [0, 1) for f32 and f64, and in [minval, maxval) when given (20 runs)", () => {
    fc.assert(
      fc.property(
        seedArb,
        shapeArb(1, 3, 1, 16),
        fc.constantFrom("f32" as const, "f64" as const),
        (seed, shape, dtype) => {
          const u = values(random.uniform(random.key(seed), shape, { dtype }));
          expect(u.length).toBe(numelOf(shape));
          expect(u.every((x) => x >= 0 && x < 1)).toBe(true);
          const r = values(random.uniform(random.key(seed), shape, { dtype, minval: -3, maxval: 5 }));
          expect(r.every((x) => x >= -3 && x < 5)).toBe(true);
        },
      ),
      { numRuns: 20 },
    );
  });

  it("uniform: mean 1/2 and variance 1/12 within 5 standard errors (5 runs of n = 20000)", () => {
    const n = 20000;
    fc.assert(
      fc.property(seedArb, (seed) => {
        const u = values(random.uniform(random.key(seed), [n], { dtype: "f64" }));
        expect(Math.abs(mean(u) - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
        // Var of (U - 1/2)^2 is 1/180, so the sample variance has standard error sqrt(1/180/n).
        expect(Math.abs(variance(u) - 1 / 12)).toBeLessThan(5 * Math.sqrt(1 / 180 / n));
      }),
      { numRuns: 5 },
    );
  });

  it("normal: mean 0 and variance 1 within 5 standard errors (5 runs of n = 20000, f32 and f64)", () => {
    const n = 20000;
    fc.assert(
      fc.property(seedArb, fc.constantFrom("f32" as const, "f64" as const), (seed, dtype) => {
        const z = values(random.normal(random.key(seed), [n], dtype));
        expect(z.every(Number.isFinite)).toBe(true);
        expect(Math.abs(mean(z))).toBeLessThan(5 / Math.sqrt(n));
        expect(Math.abs(variance(z) - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
        // Symmetry and tails: P(|Z| > 1.96) = 0.05 (binomial standard error).
        const tail = z.filter((x) => Math.abs(x) > 1.959964).length / n;
        expect(Math.abs(tail - 0.05)).toBeLessThan(5 * Math.sqrt((0.05 * 0.95) / n));
      }),
      { numRuns: 5 },
    );
  });

  it("bernoulli(p) and categorical(logits) frequencies match p and softmax(logits) within 5 standard errors", () => {
    const n = 20000;
    const b = values(random.bernoulli(random.key(11), 0.3, [n]).cast("f32"));
    expect(Math.abs(mean(b) - 0.3)).toBeLessThan(5 * Math.sqrt((0.3 * 0.7) / n));

    const logits = tensor([0.5, -1, 2, 0], [4], "f64");
    const p = values(softmax(logits));
    const draws = random.categorical(random.key(12), logits.expandDims(0).broadcastTo([n, 4])).dataSync();
    expect(draws.length).toBe(n);
    for (let c = 0; c < 4; c++) {
      const freq = Array.from(draws).filter((d) => d === c).length / n;
      expect(Math.abs(freq - p[c]!)).toBeLessThan(5 * Math.sqrt((p[c]! * (1 - p[c]!)) / n));
    }
  });
});
