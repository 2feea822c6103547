/**
 * A minimal full-batch training loop with Adam (Kingma & Ba 2015) over a
 * parameter pytree, for the experiments. Each step runs `valueAndGrad` of the
 * loss (jitted: traced once, replayed after).
 */
import { jit, tree, valueAndGrad, type Tensor } from "../../index";

export interface AdamOptions {
  steps: number;
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Called after each step with the step index and the loss before the update. */
  onStep?: (step: number, loss: number, params: unknown) => void;
}

/**
 * Minimises `loss(params)` with Adam; returns the final parameters and the loss before each step.
 * @example const { params, losses } = trainAdam((p) => localExpertsLoss(p, x, y), init, { steps: 300, lr: 0.05 });
 */
export function trainAdam<P>(loss: (params: P) => Tensor, init: P, options: AdamOptions): { params: P; losses: number[] } {
  const { steps, lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, onStep } = options;
  const step = jit(valueAndGrad(loss as (p: never) => Tensor));
  let params = init;
  let m = tree.map((p) => p.mul(0), params);
  let v = m;
  const losses: number[] = [];
  for (let t = 1; t <= steps; t++) {
    const [value, g] = step(params as never);
    losses.push((value as Tensor).item());
    onStep?.(t - 1, losses[t - 1]!, params);
    m = tree.map((mi, gi) => mi.mul(beta1).add(gi!.mul(1 - beta1)), m, g);
    v = tree.map((vi, gi) => vi.mul(beta2).add(gi!.square().mul(1 - beta2)), v, g);
    const scale = (lr * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t);
    params = tree.map((p, mi, vi) => p.sub(mi!.mul(scale).div(vi!.sqrt().add(eps))), params, m, v);
  }
  return { params, losses };
}
