/**
 * Optimizers as pure functions over parameter pytrees (in the style of optax):
 * `init(params)` gives a state pytree, `update(grads, state, params)` gives
 * `[newParams, newState]`. Nothing is mutated, so steps compose with jit/grad.
 */
import {
  add,
  cast,
  div,
  full,
  mul,
  pow,
  sqrt,
  square,
  sub,
  tree,
  zeros,
  zerosLike,
  type FloatDType,
  type Tensor,
} from "../core";
import { MoeConfigError, checkPositive } from "./check";

/** A pure optimizer over parameter pytrees `P` with state `S`. */
export interface Optimizer<S = unknown> {
  init<P>(params: P): S;
  update<P>(grads: P, state: S, params: P): [P, S];
}

function checkRate(
  value: number | undefined,
  where: string,
  what: string,
  { max = Infinity, allowZero = true } = {},
): number {
  const v = value ?? 0;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0) || v >= max) {
    throw new MoeConfigError(
      `${where}: ${what} = ${String(value)} is invalid; expected ${allowZero ? "0 <=" : "0 <"} ${what} < ${max}`,
    );
  }
  return v;
}

/** Options of SGD. */
export interface SgdOptions {
  readonly lr: number;
  /** Heavy-ball momentum μ in [0, 1). Default 0. */
  readonly momentum?: number;
  /** Nesterov momentum. Default false. */
  readonly nesterov?: boolean;
  /** L2 weight decay added to the gradient. Default 0. */
  readonly weightDecay?: number;
}

/** SGD state: the velocity pytree. */
export interface SgdState<P = unknown> {
  readonly velocity: P;
}

/**
 * Stochastic gradient descent with momentum (Polyak 1964; Sutskever et al. 2013):
 * `g' = g + λ p`, `v ← μ v + g'`, `p ← p - η (nesterov ? g' + μ v : v)`.
 * @example
 * const opt = sgd({ lr: 0.1, momentum: 0.9 });
 * let state = opt.init(params);
 * [params, state] = opt.update(grads, state, params);
 */
export function sgd(options: SgdOptions): Optimizer<SgdState> {
  const lr = checkPositive(options.lr, "sgd", "lr");
  const mu = checkRate(options.momentum, "sgd", "momentum", { max: 1 });
  const wd = checkRate(options.weightDecay, "sgd", "weightDecay");
  return {
    init: (params) => ({ velocity: tree.map(zerosLike, params) }),
    update(grads, state, params) {
      const g = wd === 0 ? grads : tree.map((gi, p) => add(gi, mul(p, wd)), grads, params);
      const velocity = tree.map((v, gi) => add(mul(v, mu), gi), state.velocity as typeof grads, g);
      const direction = options.nesterov ? tree.map((gi, v) => add(gi, mul(v, mu)), g, velocity) : velocity;
      return [tree.map((p, d) => sub(p, mul(d, lr)), params, direction), { velocity }];
    },
  };
}

/** Options of Adam / AdamW. */
export interface AdamWOptions {
  readonly lr: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  /** Decoupled weight decay λ (AdamW). Default 0.01 for `adamW`, 0 for `adam`. */
  readonly weightDecay?: number;
}

/** Adam state: step count and the first and second moment pytrees. */
export interface AdamState<P = unknown> {
  /** i32 scalar: steps taken. */
  readonly step: Tensor;
  readonly m: P;
  readonly v: P;
}

/**
 * AdamW (Loshchilov & Hutter 2019; Adam: Kingma & Ba 2015):
 * `m ← β1 m + (1-β1) g`, `v ← β2 v + (1-β2) g²`,
 * `p ← p - η (m̂ / (sqrt(v̂) + ε) + λ p)` with bias-corrected `m̂ = m / (1-β1^t)`,
 * `v̂ = v / (1-β2^t)`; the weight decay is decoupled from the gradient.
 * @example const opt = adamW({ lr: 1e-2, weightDecay: 0 });
 */
export function adamW(options: AdamWOptions): Optimizer<AdamState> {
  const lr = checkPositive(options.lr, "adamW", "lr");
  const b1 = checkRate(options.beta1 ?? 0.9, "adamW", "beta1", { max: 1 });
  const b2 = checkRate(options.beta2 ?? 0.999, "adamW", "beta2", { max: 1 });
  const eps = checkPositive(options.eps ?? 1e-8, "adamW", "eps");
  const wd = checkRate(options.weightDecay ?? 0.01, "adamW", "weightDecay");
  return {
    init: (params) => ({ step: zeros([], "i32"), m: tree.map(zerosLike, params), v: tree.map(zerosLike, params) }),
    update(grads, state, params) {
      const step = add(state.step, 1);
      const m = tree.map((mi, g) => add(mul(mi, b1), mul(g, 1 - b1)), state.m as typeof grads, grads);
      const v = tree.map((vi, g) => add(mul(vi, b2), mul(square(g), 1 - b2)), state.v as typeof grads, grads);
      const newParams = tree.map(
        (p, mi, vi) => {
          const dtype = p.dtype as FloatDType;
          const t = cast(step, dtype);
          const mHat = div(mi, sub(1, pow(full([], b1, dtype), t)));
          const vHat = div(vi, sub(1, pow(full([], b2, dtype), t)));
          const update = add(div(mHat, add(sqrt(vHat), eps)), mul(p, wd));
          return sub(p, mul(update, lr));
        },
        params,
        m,
        v,
      );
      return [newParams, { step, m, v }];
    },
  };
}

/**
 * Adam (Kingma & Ba 2015): AdamW without weight decay.
 * @example const opt = adam({ lr: 1e-3 });
 */
export function adam(options: Omit<AdamWOptions, "weightDecay">): Optimizer<AdamState> {
  return adamW({ ...options, weightDecay: 0 });
}
