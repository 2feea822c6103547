/**
 * Small dense linear algebra on host arrays (row-major Float64Array), for the
 * closed-form M-steps of EM: the normal equations there are (D+1) x (D+1)
 * per expert, too small to be worth a device program.
 */

/**
 * Cholesky factor L (lower triangular, A = L Lᵀ) of a symmetric positive
 * definite n x n matrix. Throws if A is not positive definite, naming the pivot.
 * @example const l = cholesky(new Float64Array([4, 2, 2, 3]), 2);
 */
export function cholesky(a: Float64Array, n: number): Float64Array {
  if (a.length !== n * n)
    throw new RangeError(`cholesky: expected ${n * n} entries for a ${n}x${n} matrix, got ${a.length}`);
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j]!;
    for (let k = 0; k < j; k++) d -= l[j * n + k]! ** 2;
    if (!(d > 0))
      throw new Error(
        `cholesky: the matrix is not positive definite (pivot ${j} is ${d}); add a ridge to its diagonal`,
      );
    const ljj = Math.sqrt(d);
    l[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j]!;
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
      l[i * n + j] = s / ljj;
    }
  }
  return l;
}

/**
 * Solves A X = B for a symmetric positive definite A (n x n) and B (n x m),
 * by Cholesky factorisation and two triangular solves. Returns X (n x m).
 * @example solveSpd(new Float64Array([2, 0, 0, 4]), new Float64Array([2, 4]), 2, 1) // [1, 1]
 */
export function solveSpd(a: Float64Array, b: Float64Array, n: number, m: number): Float64Array {
  if (b.length !== n * m)
    throw new RangeError(`solveSpd: expected ${n * m} right-hand-side entries (${n}x${m}), got ${b.length}`);
  const l = cholesky(a, n);
  const x = Float64Array.from(b);
  for (let c = 0; c < m; c++) {
    for (let i = 0; i < n; i++) {
      let s = x[i * m + c]!;
      for (let k = 0; k < i; k++) s -= l[i * n + k]! * x[k * m + c]!;
      x[i * m + c] = s / l[i * n + i]!;
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = x[i * m + c]!;
      for (let k = i + 1; k < n; k++) s -= l[k * n + i]! * x[k * m + c]!;
      x[i * m + c] = s / l[i * n + i]!;
    }
  }
  return x;
}

/**
 * A copy of the n x n matrix `a` with `relative` x (its mean diagonal) + `floor`
 * added to the diagonal: the ridge that keeps a semi-definite system solvable.
 * @example solveSpd(withRidge(a, n, 1e-9), b, n, 1)
 */
export function withRidge(a: Float64Array, n: number, relative: number, floor = 1e-300): Float64Array {
  let trace = 0;
  for (let i = 0; i < n; i++) trace += a[i * n + i]!;
  const out = Float64Array.from(a);
  const lam = relative * Math.max(trace / n, 0) + floor;
  for (let i = 0; i < n; i++) out[i * n + i] += lam;
  return out;
}
