/**
 * A first MoE model with the library's own pieces (the README's "A first MoE"):
 * a top-2 `moe.moeLayer` of `moe.swigluExperts`, trained with `moe.adamW`,
 * one jitted step (forward, gradient, optimizer update) per call.
 * Run it: `npx tsx examples/first_moe.ts` (test/moe/first_moe.test.ts runs it too).
 */
import { jit, moe, ops, random, valueAndGrad, type Tensor } from "../index";

/** Trains the layer to map random tokens to a fixed random target; returns the loss after each step. */
export function trainFirstMoe(steps = 30, tokens = 64, dModel = 16): number[] {
  const layer = moe.moeLayer({
    numExperts: 4,
    gate: { type: "topK", k: 2 },
    experts: moe.swigluExperts,
    capacityFactor: 1.25,
    residual: true,
  });
  const [kInit, kX, kT] = random.split(random.key(0), 3);
  const x = random.normal(kX!, [tokens, dModel]);
  const target = ops.tanh(random.normal(kT!, [tokens, dModel]));
  const opt = moe.adamW({ lr: 1e-2, weightDecay: 1e-4 });
  let params = layer.init(kInit!, { dModel, hidden: 32 });
  let state = opt.init(params);

  // Task loss plus the layer's load-balancing loss (report.auxLoss).
  const loss = (p: typeof params, x: Tensor, t: Tensor) => {
    const { y, report } = layer.apply(p, x);
    return ops.add(ops.mean(ops.square(ops.sub(y, t))), report.auxLoss);
  };
  const step = jit((p: typeof params, s: typeof state, x: Tensor, t: Tensor) => {
    const [value, grads] = valueAndGrad(loss)(p, x, t);
    const [newParams, newState] = opt.update(grads, s, p);
    return { value, params: newParams, state: newState };
  });

  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const out = step(params, state, x, target);
    params = out.params;
    state = out.state;
    losses.push(out.value.item());
  }
  return losses;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const losses = trainFirstMoe();
  losses.forEach((l, i) => i % 5 === 0 && console.log(`step ${i}: loss ${l.toFixed(4)}`));
}
