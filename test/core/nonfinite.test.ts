/**
 * Non-finite values never vanish, on the interpreter, the cpu backend and the
 * GPU-shaped JS schedule (WebGPU: test/webgpu/ieee_specials.test.ts):
 * - NaN ranks as the largest value in topK, argsort/sort (first descending,
 *   last ascending) and argmax, so a NaN router logit is never silently dropped;
 * - logsumexp of a fully masked (all -Inf) row is -Inf (scipy, JAX) with a zero
 *   gradient; rows with finite entries keep the usual value and gradient.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { argmax, argsort, grad, jit, logsumexp, max, sort, sum, tensor, topK, type Tensor } from "../../index";
import { gpuShapedOnJs } from "../codegen/runners";
import { trace } from "../../dsl/api";

/** Runs `fn` on the interpreter, the cpu backend and the GPU-shaped JS schedule. */
function onEveryCpuBackend(fn: (...xs: Tensor[]) => Tensor[], args: Tensor[]): Record<string, number[][]> {
  const read = (ts: Tensor[]) => ts.map((t) => Array.from(t.dataSync()));
  const program = trace(fn, ...args);
  return {
    interp: read(jit(fn, { backend: "interp" })(...args)),
    cpu: read(jit(fn, { backend: "cpu" })(...args)),
    gpuShapedJs: read(gpuShapedOnJs(program, args) as Tensor[]),
  };
}

describe("NaN ranks as the largest value", () => {
  it("topK([[1, NaN, 3, 2]], k) keeps the NaN first, like max and argmax", () => {
    const x = tensor([[1, NaN, 3, 2]]);
    const fn = (v: Tensor) => [...topK(v, 1), ...topK(v, 3), max(v, -1), argmax(v, -1)];
    for (const [backend, [v1, i1, v3, i3, m, am]] of Object.entries(onEveryCpuBackend(fn, [x]))) {
      expect({ backend, v1, i1, v3, i3, m, am }).toEqual({
        backend,
        v1: [NaN],
        i1: [1],
        v3: [NaN, 3, 2],
        i3: [1, 2, 3],
        m: [NaN],
        am: [1],
      });
    }
  });

  it("argsort and sort: NaN first descending, last ascending, NaNs in index order (short and merge-sorted rows)", () => {
    for (const n of [5, 64, 65, 200]) {
      // NaN at positions 1 and n - 2, values n - i elsewhere (all distinct).
      const row = Array.from({ length: n }, (_, i) => (i === 1 || i === n - 2 ? NaN : n - i));
      const finite = row.map((v, i) => [v, i] as const).filter(([v]) => !Number.isNaN(v));
      const asc = [...finite].sort((a, b) => a[0] - b[0]).map(([, i]) => i);
      const nans = [1, n - 2];
      const want = { up: [...asc, ...nans], down: [...nans, ...[...asc].reverse()] };
      const fn = (v: Tensor) => [argsort(v, -1), argsort(v, -1, true), sort(v, -1, true), ...topK(v, 3)];
      for (const [backend, [up, down, sorted, top, topIdx]] of Object.entries(onEveryCpuBackend(fn, [tensor([row])]))) {
        expect({ backend, n, up, down }).toEqual({ backend, n, ...want });
        expect(sorted).toEqual(want.down.map((i) => row[i]));
        expect(topIdx).toEqual(want.down.slice(0, 3));
        expect(top).toEqual([NaN, NaN, row[want.down[2]!]]);
      }
    }
  });
});

/** Reference logsumexp of one row in float64: -Inf for an all -Inf row. */
function lseRef(row: readonly number[]): number {
  const m = Math.max(...row);
  if (m === -Infinity) return -Infinity;
  return m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
}

/** Rows of finite values with entries masked to -Inf; some rows fully masked. */
const maskedRowsArb = fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 })).chain(([rows, n]) =>
  fc.array(
    fc.oneof(
      fc.constant(Array<number>(n).fill(-Infinity)),
      fc.array(fc.oneof(fc.double({ min: -30, max: 30, noNaN: true }), fc.constant(-Infinity)), {
        minLength: n,
        maxLength: n,
      }),
    ),
    { minLength: rows, maxLength: rows },
  ),
);

describe("logsumexp of masked rows", () => {
  it("values: -Inf for a fully masked row, the float64 reference elsewhere (property)", () => {
    fc.assert(
      fc.property(maskedRowsArb, (rows) => {
        const x = tensor(Float64Array.from(rows.flat()), [rows.length, rows[0]!.length], "f64");
        const got = Array.from(logsumexp(x, -1).dataSync());
        rows.forEach((row, r) => {
          const want = lseRef(row);
          if (want === -Infinity) expect(got[r]).toBe(-Infinity);
          else expect(Math.abs(got[r]! - want)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(want)));
        });
      }),
      { numRuns: 100 },
    );
  });

  it("gradients: softmax over the unmasked entries, 0 on masked ones and on fully masked rows (property)", () => {
    fc.assert(
      fc.property(maskedRowsArb, (rows) => {
        const x = tensor(Float64Array.from(rows.flat()), [rows.length, rows[0]!.length], "f64");
        const g = Array.from((grad((v: Tensor) => sum(logsumexp(v, -1)))(x) as Tensor).dataSync());
        const n = rows[0]!.length;
        rows.forEach((row, r) => {
          const lse = lseRef(row);
          row.forEach((v, i) => {
            const want = lse === -Infinity ? 0 : Math.exp(v - lse);
            expect(Math.abs(g[r * n + i]! - want)).toBeLessThanOrEqual(1e-12);
          });
        });
      }),
      { numRuns: 100 },
    );
  });

  it("the specific cases on every cpu backend: all -Inf, one finite entry, +Inf, NaN", () => {
    const x = tensor([
      [-Infinity, -Infinity, -Infinity],
      [-Infinity, 2, -Infinity],
      [1, Infinity, -Infinity],
      [1, NaN, 0],
    ]);
    const fn = (v: Tensor) => [logsumexp(v, -1), grad((u: Tensor) => sum(logsumexp(u, -1)))(v)];
    for (const [backend, [value, g]] of Object.entries(onEveryCpuBackend(fn, [x]))) {
      expect({ backend, value }).toEqual({ backend, value: [-Infinity, 2, Infinity, NaN] });
      expect({ backend, g: g!.slice(0, 6) }).toEqual({ backend, g: [0, 0, 0, 0, 1, 0] });
    }
  });
});
