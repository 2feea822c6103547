import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  hierarchicalMoe,
  hierarchicalMoeLoss,
  initHierarchicalMoe,
  localExpertsLoss,
  validateHierarchy,
  type HmeNode,
} from "../../../moe/classical";
import { random, stack, zeros } from "../../../index";
import { affineRow, arr, checkTreeGrads, logSumExp, randTensor, rng, softmaxRow } from "./helpers";
import { expectClose } from "../../helpers/close";

/** A random tree as nested plain arrays (the reference reads these) plus its tensor pytree. */
type RefNode = { gate: { w: number[][]; b: number[] }; children: RefNode[] } | { w: number[][]; b: number[] };

function randomTree(
  r: () => number,
  d: number,
  o: number,
  depth: number,
  maxBranch: number,
): { ref: RefNode; tree: HmeNode } {
  if (depth === 0 || r() < 0.15) {
    const w = randTensor(r, [d, o]);
    const b = randTensor(r, [o]);
    return { ref: { w: w.a, b: b.a }, tree: { w: w.t, b: b.t } };
  }
  const k = 1 + Math.floor(r() * maxBranch);
  const gw = randTensor(r, [d, k]);
  const gb = randTensor(r, [k]);
  const kids = Array.from({ length: k }, () => randomTree(r, d, o, depth - 1, maxBranch));
  return {
    ref: { gate: { w: gw.a, b: gb.a }, children: kids.map((c) => c.ref) },
    tree: { gate: { w: gw.t, b: gb.t }, children: kids.map((c) => c.tree) },
  };
}

/** Plain recursion: [mean, log-likelihood] of a subtree for one case. */
function refEval(node: RefNode, x: number[], y: number[]): [number[], number] {
  if (!("children" in node)) {
    const mu = affineRow(x, node.w, node.b);
    return [mu, -0.5 * mu.reduce((s, v, c) => s + (y[c]! - v) ** 2, 0)];
  }
  const z = affineRow(x, node.gate.w, node.gate.b);
  const g = softmaxRow(z);
  const kids = node.children.map((c) => refEval(c, x, y));
  const mean = kids[0]![0].map((_, c) => kids.reduce((s, [m], i) => s + g[i]! * m[c]!, 0));
  return [mean, logSumExp(kids.map(([, ll], i) => Math.log(g[i]!) + ll))];
}

const sizes = fc.record({
  n: fc.integer({ min: 1, max: 4 }),
  d: fc.integer({ min: 1, max: 3 }),
  o: fc.integer({ min: 1, max: 2 }),
  depth: fc.integer({ min: 0, max: 3 }),
  seed: fc.integer({ min: 0, max: 1e6 }),
});

describe("hierarchical mixture of experts", () => {
  it("mean and loss equal a plain recursive reference on random (also unbalanced) trees", () => {
    fc.assert(
      fc.property(sizes, ({ n, d, o, depth, seed }) => {
        const r = rng(seed);
        const { ref, tree } = randomTree(r, d, o, depth, 3);
        const x = randTensor(r, [n, d], 2);
        const y = randTensor(r, [n, o], 2);
        const want = x.a.map((xn: number[], i: number) => refEval(ref, xn, y.a[i]));
        expectClose(
          arr(hierarchicalMoe(tree, x.t)),
          want.map(([m]: [number[], number]) => m),
        );
        expectClose(
          hierarchicalMoeLoss(tree, x.t, y.t).item(),
          -want.reduce((s: number, [, ll]: [number[], number]) => s + ll, 0) / n,
        );
      }),
      { numRuns: 40 },
    );
  });

  it("with one level of gates is exactly the mixture of local experts", () => {
    const r = rng(11);
    const [n, d, o, e] = [5, 3, 2, 4];
    const gw = randTensor(r, [d, e]).t;
    const gb = randTensor(r, [e]).t;
    const leaves = Array.from({ length: e }, () => ({ w: randTensor(r, [d, o]).t, b: randTensor(r, [o]).t }));
    const [ew, eb] = [stack(leaves.map((l) => l.w)), stack(leaves.map((l) => l.b))];
    const x = randTensor(r, [n, d]).t;
    const y = randTensor(r, [n, o]).t;
    const tree: HmeNode = { gate: { w: gw, b: gb }, children: leaves };
    expectClose(
      hierarchicalMoeLoss(tree, x, y).item(),
      localExpertsLoss({ gate: { w: gw, b: gb }, experts: { w: ew, b: eb } }, x, y).item(),
      1e-12,
    );
  });

  it("has correct gradients (checkGrads, f64) on random trees", () => {
    fc.assert(
      fc.property(sizes, ({ n, d, o, depth, seed }) => {
        const r = rng(seed);
        const { tree } = randomTree(r, d, o, Math.min(depth, 2), 3);
        const x = randTensor(r, [n, d], 2).t;
        const y = randTensor(r, [n, o], 2).t;
        checkTreeGrads((t) => hierarchicalMoeLoss(t, x, y), tree, { seed });
      }),
      { numRuns: 15 },
    );
  });

  it("has correct gradients of the mean prediction w.r.t. the tree and the inputs (checkGrads, f64)", () => {
    fc.assert(
      fc.property(sizes, ({ n, d, o, depth, seed }) => {
        const r = rng(seed);
        const { tree } = randomTree(r, d, o, Math.min(depth, 2), 3);
        const x = randTensor(r, [n, d], 2).t;
        checkTreeGrads(({ t, x: xs }) => hierarchicalMoe(t, xs), { t: tree, x }, { seed });
      }),
      { numRuns: 10 },
    );
  });

  it("initHierarchicalMoe builds the requested balanced tree", () => {
    const tree = initHierarchicalMoe(random.key(1), { inputDim: 4, outputDim: 2, branching: [2, 3, 2] }, "f64");
    expect(validateHierarchy(tree)).toEqual({ inputDim: 4, outputDim: 2, depth: 3, experts: 12 });
    expect(hierarchicalMoe(tree, zeros([5, 4], "f64")).shape).toEqual([5, 2]);
  });

  it("rejects inconsistent branching and mismatched shapes, naming the node", () => {
    const r = rng(5);
    const leaf = (d: number, o: number) => ({ w: randTensor(r, [d, o]).t, b: randTensor(r, [o]).t });
    const gate = (d: number, k: number) => ({ w: randTensor(r, [d, k]).t, b: randTensor(r, [k]).t });
    const x = randTensor(r, [3, 2]).t;
    const y = randTensor(r, [3, 1]).t;
    const good: HmeNode = {
      gate: gate(2, 2),
      children: [leaf(2, 1), { gate: gate(2, 3), children: [leaf(2, 1), leaf(2, 1), leaf(2, 1)] }],
    };
    expect(validateHierarchy(good)).toEqual({ inputDim: 2, outputDim: 1, depth: 2, experts: 4 });
    const fewerChildren: HmeNode = {
      gate: gate(2, 2),
      children: [leaf(2, 1), { gate: gate(2, 3), children: [leaf(2, 1), leaf(2, 1)] }],
    };
    expect(() => hierarchicalMoe(fewerChildren, x)).toThrow(
      /tree\.children\[1\]: the gate has 3 outputs but the node has 2 children/,
    );
    const wrongLeafOut: HmeNode = { gate: gate(2, 2), children: [leaf(2, 1), leaf(2, 2)] };
    expect(() => hierarchicalMoeLoss(wrongLeafOut, x, y)).toThrow(
      /tree\.children\[1\]: the expert has 2 outputs, but tree\.children\[0\] has 1/,
    );
    const wrongLeafIn: HmeNode = { gate: gate(2, 2), children: [leaf(2, 1), leaf(3, 1)] };
    expect(() => validateHierarchy(wrongLeafIn)).toThrow(
      /tree\.children\[1\]: the expert reads 3 features, but the tree's other nodes read 2/,
    );
    expect(() => validateHierarchy({ gate: gate(2, 0), children: [] })).toThrow(
      /tree\.children must be a non-empty array/,
    );
    expect(() => validateHierarchy({ gate: gate(2, 1), children: [{ weights: x } as never] })).toThrow(
      /tree\.children\[0\] has keys \{weights\}/,
    );
    expect(() => hierarchicalMoe(good, randTensor(r, [3, 4]).t)).toThrow(/x has shape \[3, 4\], expected \[\?, 2\]/);
    expect(() => hierarchicalMoeLoss(good, x, randTensor(r, [3, 2]).t)).toThrow(
      /y has shape \[3, 2\], expected \[3, 1\]/,
    );
    expect(() => initHierarchicalMoe(random.key(0), { inputDim: 2, outputDim: 1, branching: [2, 0] })).toThrow(
      /branching\[1\] = 0/,
    );
  });
});
