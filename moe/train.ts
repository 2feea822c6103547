/** A small training loop: value-and-grad, an optimizer step, progress, history. */
import { valueAndGrad, type Tensor } from "../core";
import { MoeConfigError, checkInt } from "./check";
import type { Optimizer } from "./optim";
import { createProgress, type ProgressStream } from "./progress";

/** What `loss` may return: the scalar loss, or `[loss, aux]` with any pytree `aux` (e.g. an MoE report). */
export type LossResult<A> = Tensor | readonly [Tensor, A];

/** Options of `train`. */
export interface TrainOptions<P, S, A> {
  readonly params: P;
  readonly optimizer: Optimizer<S>;
  readonly steps: number;
  /** The objective at a step (pick the step's batch from `step`). */
  readonly loss: (params: P, step: number) => LossResult<A>;
  /** Optimizer state to resume from (default `optimizer.init(params)`). */
  readonly state?: S;
  /** Called after every step with the new parameters (update non-gradient state such as a selection bias here). */
  readonly onStep?: (info: {
    readonly step: number;
    readonly loss: number;
    readonly aux: A | undefined;
    readonly params: P;
  }) => void;
  /** Progress output: true (default) = bar on a TTY, lines otherwise; false = silent. */
  readonly progress?: boolean | { readonly label?: string; readonly stream?: ProgressStream; readonly every?: number };
}

/** The outcome of `train`. */
export interface TrainResult<P, S> {
  readonly params: P;
  readonly state: S;
  /** The loss before each step's update. */
  readonly losses: number[];
}

/**
 * Minimises `loss` for `steps` optimizer steps: at step i, `[loss, grads] =
 * valueAndGrad(loss)(params, i)`, then `[params, state] = optimizer.update(grads, state, params)`.
 * Shows a progress bar on a TTY stderr and plain lines otherwise.
 * @example
 * const { params, losses } = train({ params: p0, optimizer: adamW({ lr: 1e-2 }), steps: 100, loss: (p) => mse(p, x, y) });
 */
export function train<P, S, A = undefined>(options: TrainOptions<P, S, A>): TrainResult<P, S> {
  const steps = checkInt(options.steps, "train", "steps", 0);
  if (typeof options.loss !== "function")
    throw new MoeConfigError("train: options.loss must be a function (params, step) => loss");
  // The step index is closed over (not an argument): grad arguments must be tensor pytrees.
  const stepAt = (i: number) =>
    valueAndGrad(
      (p: P) => {
        const out = options.loss(p, i);
        return Array.isArray(out) ? [out[0], out[1]] : [out, null];
      },
      { hasAux: true },
    ) as unknown as (p: P) => [[Tensor, A | null], P];
  const progressOpts = options.progress === undefined || options.progress === true ? {} : options.progress;
  const bar = progressOpts === false ? undefined : createProgress(steps, progressOpts);
  let params = options.params;
  let state = options.state ?? options.optimizer.init(params);
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const [[value, aux], grads] = stepAt(i)(params);
    const loss = value.item();
    if (!Number.isFinite(loss))
      throw new Error(`train: the loss became ${loss} at step ${i}; lower the learning rate or check the model`);
    losses.push(loss);
    [params, state] = options.optimizer.update(grads, state, params);
    bar?.update(i + 1, loss);
    options.onStep?.({ step: i, loss, aux: aux ?? undefined, params });
  }
  bar?.done();
  return { params, state, losses };
}
