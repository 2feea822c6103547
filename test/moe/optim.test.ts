import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { log, mean, mul, square, sub, sum, tensor, tree, type Tensor } from "../../index";
import { MoeConfigError, adam, adamW, createProgress, sgd, train } from "../../moe/index";
import { SOME, randn } from "./helpers";
import { expectClose } from "../helpers/close";
import { vec } from "./reference";

/** A small pytree of parameters and three gradient pytrees of the same structure. */
function problem(seed: number) {
  const params = { a: randn(seed, [2]), nested: { b: randn(seed + 1, [3]) } };
  const grads = [0, 1, 2].map((i) => ({ a: randn(seed + 10 + i, [2]), nested: { b: randn(seed + 20 + i, [3]) } }));
  return { params, grads };
}
const flat = (p: { a: Tensor; nested: { b: Tensor } }) => [...vec(p.a), ...vec(p.nested.b)];

describe("SGD", () => {
  it("matches v ← μv + g + λp, p ← p - η(nesterov ? g' + μv : v) over several steps", () => {
    fc.assert(
      fc.property(
        fc.nat(10_000),
        fc.constantFrom(0, 0.9),
        fc.boolean(),
        fc.constantFrom(0, 0.1),
        (seed, momentum, nesterov, weightDecay) => {
          const { params, grads } = problem(seed);
          const opt = sgd({ lr: 0.3, momentum, nesterov, weightDecay });
          let p = params;
          let state = opt.init(p);
          let ref = flat(params);
          let vel = ref.map(() => 0);
          for (const g of grads) {
            [p, state] = opt.update(g, state, p);
            const gg = flat(g).map((gi, i) => gi + weightDecay * ref[i]!);
            vel = vel.map((v, i) => momentum * v + gg[i]!);
            ref = ref.map((pi, i) => pi - 0.3 * (nesterov ? gg[i]! + momentum * vel[i]! : vel[i]!));
          }
          expectClose(tensor(flat(p)), ref, 1e-6);
          expect(flat(params)).toEqual(flat(problem(seed).params)); // inputs untouched
        },
      ),
      SOME,
    );
  });
});

describe("AdamW / Adam", () => {
  it("match the bias-corrected moments and decoupled weight decay over several steps", () => {
    fc.assert(
      fc.property(fc.nat(10_000), fc.constantFrom(0, 0.05), (seed, weightDecay) => {
        const { params, grads } = problem(seed);
        const [b1, b2, eps, lr] = [0.8, 0.95, 1e-8, 0.1];
        const opt =
          weightDecay === 0
            ? adam({ lr, beta1: b1, beta2: b2, eps })
            : adamW({ lr, beta1: b1, beta2: b2, eps, weightDecay });
        let p = params;
        let state = opt.init(p);
        let ref = flat(params);
        let m = ref.map(() => 0);
        let v = ref.map(() => 0);
        grads.forEach((g, step) => {
          [p, state] = opt.update(g, state, p);
          const t = step + 1;
          m = m.map((mi, i) => b1 * mi + (1 - b1) * flat(g)[i]!);
          v = v.map((vi, i) => b2 * vi + (1 - b2) * flat(g)[i]! ** 2);
          ref = ref.map(
            (pi, i) => pi - lr * (m[i]! / (1 - b1 ** t) / (Math.sqrt(v[i]! / (1 - b2 ** t)) + eps) + weightDecay * pi),
          );
        });
        expectClose(tensor(flat(p)), ref, 1e-6);
        expect(state.step.item()).toBe(3);
      }),
      SOME,
    );
  });

  it("reject invalid hyperparameters", () => {
    expect(() => adamW({ lr: 0 })).toThrow(/lr = 0 is invalid/);
    expect(() => adamW({ lr: 1, beta1: 1 })).toThrow(/beta1 = 1 is invalid; expected 0 <= beta1 < 1/);
    expect(() => sgd({ lr: 0.1, momentum: 1.5 })).toThrow(MoeConfigError);
    expect(() => sgd({ lr: -1 })).toThrow(/lr = -1/);
  });
});

describe("train", () => {
  const target = tensor([1, -2, 0.5]);
  const loss = (p: { w: Tensor }) => mean(square(sub(p.w, target)));

  it("minimises a loss with valueAndGrad + an optimizer, recording the loss history", () => {
    const { params, losses } = train({
      params: { w: tensor([0, 0, 0]) },
      optimizer: adamW({ lr: 0.1, weightDecay: 0 }),
      steps: 200,
      loss,
      progress: false,
    });
    expect(losses.length).toBe(200);
    expect(losses[199]!).toBeLessThan(1e-3 * losses[0]!);
    expectClose(params.w, [1, -2, 0.5], 2e-2);
  });

  it("passes aux outputs and the step to onStep, and picks batches by step", () => {
    const seen: number[] = [];
    const batches = [tensor([1, 1, 1]), tensor([2, 2, 2])];
    train({
      params: { w: tensor([0, 0, 0]) },
      optimizer: sgd({ lr: 0.1 }),
      steps: 4,
      loss: (p, step) => [mean(square(sub(p.w, batches[step % 2]!))), { doubled: mul(sum(p.w), 2) }] as const,
      onStep: ({ step, aux }) => seen.push(step, aux!.doubled.item()),
      progress: false,
    });
    expect(seen.filter((_, i) => i % 2 === 0)).toEqual([0, 1, 2, 3]);
    expect(seen[1]).toBe(0); // aux is computed before the first update
  });

  it("reports progress as a bar on a TTY and as plain lines otherwise", () => {
    const lines: string[] = [];
    train({
      params: { w: tensor([0, 0, 0]) },
      optimizer: sgd({ lr: 0.1 }),
      steps: 20,
      loss,
      progress: { stream: { write: (s: string) => lines.push(s) }, label: "fit", every: 5 },
    });
    expect(lines.length).toBe(4);
    expect(lines[0]).toMatch(/^fit 5\/20 loss \S+ \S+ it\/s\n$/);
    const tty: string[] = [];
    const bar = createProgress(4, { stream: { write: (s: string) => tty.push(s), isTTY: true } });
    bar.update(2, 0.5);
    bar.done();
    expect(tty[0]).toMatch(/^\rtrain \[#{12}-{12}\] 2\/4 loss 0.50000/);
    expect(tty[1]).toBe("\n");
  });

  it("stops with a clear error when the loss becomes non-finite", () => {
    expect(() =>
      train({
        params: { w: tensor([-1]) },
        optimizer: sgd({ lr: 0.1 }),
        steps: 2,
        loss: (p) => sum(log(p.w)),
        progress: false,
      }),
    ).toThrow(/the loss became NaN at step 0/);
  });

  it("keeps the parameter tree structure", () => {
    const { params } = train({
      params: { w: tensor([0, 0, 0]) },
      optimizer: sgd({ lr: 0.1 }),
      steps: 1,
      loss,
      progress: false,
    });
    expect(tree.leaves(params).length).toBe(1);
  });
});
