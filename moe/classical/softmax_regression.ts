/**
 * Softmax (multinomial logistic) regression on soft targets, fitted by Newton
 * steps on host arrays: the gate's M-step in EM for mixtures of experts.
 */
import { solveSpd, withRidge } from "./host_linalg";

/** N cases, P features (including the constant 1), E classes. */
export interface SoftmaxRegressionSizes {
  n: number;
  p: number;
  e: number;
}

/** x̃ V for V [P, E], as [N, E]. */
function logits(xt: Float64Array, v: Float64Array, { n, p, e }: SoftmaxRegressionSizes): Float64Array {
  const z = new Float64Array(n * e);
  for (let r = 0; r < n; r++)
    for (let i = 0; i < e; i++) {
      let s = 0;
      for (let j = 0; j < p; j++) s += xt[r * p + j]! * v[j * e + i]!;
      z[r * e + i] = s;
    }
  return z;
}

/** Softmax of each row of z [N, E], in place; returns Σ_n Σ_i h log softmax (the objective). */
function softmaxRowsAndObjective(z: Float64Array, h: Float64Array, n: number, e: number): number {
  let q = 0;
  for (let r = 0; r < n; r++) {
    let m = -Infinity;
    for (let i = 0; i < e; i++) m = Math.max(m, z[r * e + i]!);
    let s = 0;
    for (let i = 0; i < e; i++) s += Math.exp(z[r * e + i]! - m);
    const lse = m + Math.log(s);
    for (let i = 0; i < e; i++) {
      q += h[r * e + i]! * (z[r * e + i]! - lse);
      z[r * e + i] = Math.exp(z[r * e + i]! - lse);
    }
  }
  return q;
}

/**
 * Solves (H + λI) Δ = g. The objective is flat along "add the same vector
 * to every expert's column" and flattens further where the gate saturates, so
 * H is only semi-definite: λ starts small and grows (Levenberg) until the
 * factorisation succeeds.
 */
function newtonDirection(hess: Float64Array, grad: Float64Array, dim: number, ridge: number): Float64Array {
  let rel = Math.max(ridge, 1e-8);
  for (;;) {
    try {
      return solveSpd(withRidge(hess, dim, rel, 1e-12), grad, dim, 1);
    } catch (e) {
      if (rel > 1e3) throw e;
      rel *= 100;
    }
  }
}

/**
 * Softmax regression on soft targets by damped Newton steps (IRLS): maximises
 * Q(V) = Σ_n Σ_i h_ni log softmax(x̃_n V)_i over V [P, E] (updated in place),
 * with gradient Σ_n (h_n - g_n) ⊗ x̃_n and Hessian -Σ_n (diag g_n - g_n g_nᵀ) ⊗ x̃_n x̃_nᵀ.
 * Each step is halved until Q does not decrease, so Q never goes down.
 * This is the gate's M-step of EM for mixtures of experts (Jordan & Jacobs 1994).
 * @param xt inputs with a trailing 1 column, [N, P] row-major
 * @param h target distributions, [N, E] row-major (rows sum to 1)
 * @example fitSoftmaxRegression(xt, h, v, { n, p, e }, { steps: 3 });
 */
export function fitSoftmaxRegression(
  xt: Float64Array,
  h: Float64Array,
  v: Float64Array,
  sizes: SoftmaxRegressionSizes,
  { steps, ridge = 0 }: { steps: number; ridge?: number },
): void {
  const { n, p, e } = sizes;
  const dim = p * e; // θ index: i * P + j  (expert i, feature j)
  for (let step = 0; step < steps; step++) {
    const g = logits(xt, v, sizes);
    const q = softmaxRowsAndObjective(g, h, n, e); // g now holds the gate probabilities
    const grad = new Float64Array(dim);
    const hess = new Float64Array(dim * dim); // negative Hessian, PSD
    for (let r = 0; r < n; r++) {
      for (let i = 0; i < e; i++) {
        const gi = g[r * e + i]!;
        const resid = h[r * e + i]! - gi;
        for (let j = 0; j < p; j++) grad[i * p + j] += resid * xt[r * p + j]!;
        for (let k = 0; k < e; k++) {
          const c = gi * ((i === k ? 1 : 0) - g[r * e + k]!);
          if (c === 0) continue;
          for (let j = 0; j < p; j++) {
            const cx = c * xt[r * p + j]!;
            for (let l = 0; l < p; l++) hess[(i * p + j) * dim + k * p + l] += cx * xt[r * p + l]!;
          }
        }
      }
    }
    const delta = newtonDirection(hess, grad, dim, ridge);
    let t = 1;
    for (let tries = 0; tries < 30; tries++, t /= 2) {
      const trial = Float64Array.from(v);
      for (let i = 0; i < e; i++) for (let j = 0; j < p; j++) trial[j * e + i] += t * delta[i * p + j]!;
      if (softmaxRowsAndObjective(logits(xt, trial, sizes), h, n, e) >= q) {
        v.set(trial);
        break;
      }
    }
  }
}
