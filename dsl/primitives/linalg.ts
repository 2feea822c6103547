import { NDArray } from "../ndarray";
import { allocArray, isFloat } from "../dtype";
import type { Aval } from "../program";
import { ShapeError, numel, shapeToString, type Dim } from "../shape";
import type { Tensor } from "../tensor";
import { bind } from "../trace";
import { checkArity, type PrimitiveDef } from "./def";
import { bilinearJvp } from "./linear";

/** Swaps the last two axes. */
export function swapLast2(x: Tensor): Tensor {
  const r = x.shape.length;
  const perm = Array.from({ length: r }, (_, i) => (i === r - 2 ? r - 1 : i === r - 1 ? r - 2 : i));
  return bind("transpose", [x], { perm });
}

function sameDim(a: Dim | undefined, b: Dim | undefined): boolean {
  return a === b;
}

function checkFloatPair(op: string, a: Aval, b: Aval): void {
  if (a.dtype !== b.dtype)
    throw new TypeError(`${op}: operand dtypes ${a.dtype} and ${b.dtype} differ; cast one operand first`);
  if (a.dtype === "bool") throw new TypeError(`${op}: bool operands are not supported`);
}

const matmul: PrimitiveDef<"matmul"> = {
  abstractEval(inputs) {
    checkArity("matmul", inputs, 2);
    const [a, b] = inputs as [Aval, Aval];
    checkFloatPair("matmul", a, b);
    const ra = a.shape.length;
    const rb = b.shape.length;
    const batchOk = ra === rb && ra >= 2 && a.shape.slice(0, -2).every((d, i) => d === b.shape[i]);
    if (!batchOk)
      throw new ShapeError(
        `matmul: operands ${shapeToString(a.shape)} and ${shapeToString(b.shape)} need equal rank >= 2 and equal batch dims`,
      );
    if (!sameDim(a.shape[ra - 1], b.shape[rb - 2])) {
      throw new ShapeError(
        `matmul: inner dims differ: ${shapeToString(a.shape)} @ ${shapeToString(b.shape)} (${a.shape[ra - 1]} vs ${b.shape[rb - 2]})`,
      );
    }
    return { shape: [...a.shape.slice(0, -1), b.shape[rb - 1]!], dtype: a.dtype };
  },
  impl([a, b]) {
    const r = a!.shape.length;
    const M = a!.shape[r - 2]!;
    const K = a!.shape[r - 1]!;
    const N = b!.shape[r - 1]!;
    const batch = numel(a!.shape.slice(0, -2));
    const out = allocArray(a!.dtype, batch * M * N);
    const acc = new Float64Array(N);
    const A = a!.data;
    const B = b!.data;
    for (let bt = 0; bt < batch; bt++) {
      const aOff = bt * M * K;
      const bOff = bt * K * N;
      for (let i = 0; i < M; i++) {
        acc.fill(0);
        for (let k = 0; k < K; k++) {
          const av = A[aOff + i * K + k]!;
          if (av === 0) continue;
          const row = bOff + k * N;
          for (let j = 0; j < N; j++) acc[j]! += av * B[row + j]!;
        }
        out.set(acc, (bt * M + i) * N);
      }
    }
    return new NDArray(a!.dtype, [...a!.shape.slice(0, -1), N], out);
  },
  jvp: bilinearJvp("matmul"),
  vjp(ct, [a, b]) {
    if (!isFloat(a!.dtype)) return [null, null];
    return [bind("matmul", [ct, swapLast2(b!)], {}), bind("matmul", [swapLast2(a!), ct], {})];
  },
};

/** The errors of bad group sizes (also the text of the kernels' run-time checks, with placeholders). */
export const GROUP_SIZE_ERRORS = {
  negative: (op: string, g: number | string, n: number | string) => `${op}: groupSizes[${g}] = ${n} is negative`,
  sum: (op: string, total: number | string, rows: number | string) =>
    `${op}: groupSizes sum to ${total}, expected the row count ${rows}`,
};

function checkGroupSizes(op: string, gs: NDArray, rows: number): void {
  let total = 0;
  for (let g = 0; g < gs.size; g++) {
    const n = gs.data[g]!;
    if (n < 0) throw new RangeError(GROUP_SIZE_ERRORS.negative(op, g, n));
    total += n;
  }
  if (total !== rows) throw new RangeError(GROUP_SIZE_ERRORS.sum(op, total, rows));
}

function checkGroupSizesAval(op: string, gs: Aval, groups: Dim): void {
  if (gs.dtype !== "i32" || gs.shape.length !== 1 || gs.shape[0] !== groups) {
    throw new ShapeError(`${op}: groupSizes must be i32[${groups}], got ${gs.dtype}${shapeToString(gs.shape)}`);
  }
}

const raggedMatmul: PrimitiveDef<"raggedMatmul"> = {
  abstractEval(inputs) {
    checkArity("raggedMatmul", inputs, 3);
    const [x, w, gs] = inputs as [Aval, Aval, Aval];
    checkFloatPair("raggedMatmul", x, w);
    if (x.shape.length !== 2 || w.shape.length !== 3 || x.shape[1] !== w.shape[1]) {
      throw new ShapeError(
        `raggedMatmul: expected x [M,K] and w [G,K,N], got ${shapeToString(x.shape)} and ${shapeToString(w.shape)}`,
      );
    }
    checkGroupSizesAval("raggedMatmul", gs, w.shape[0]!);
    return { shape: [x.shape[0]!, w.shape[2]!], dtype: x.dtype };
  },
  impl([x, w, gs]) {
    const [M, K] = x!.shape as [number, number];
    const N = w!.shape[2]!;
    checkGroupSizes("raggedMatmul", gs!, M);
    const out = allocArray(x!.dtype, M * N);
    const acc = new Float64Array(N);
    let row = 0;
    for (let g = 0; g < gs!.size; g++) {
      const wOff = g * K * N;
      for (let r = 0; r < gs!.data[g]!; r++, row++) {
        acc.fill(0);
        for (let k = 0; k < K; k++) {
          const xv = x!.data[row * K + k]!;
          for (let j = 0; j < N; j++) acc[j]! += xv * w!.data[wOff + k * N + j]!;
        }
        out.set(acc, row * N);
      }
    }
    return new NDArray(x!.dtype, [M, N], out);
  },
  jvp: bilinearJvp("raggedMatmul"),
  vjp(ct, [x, w, gs]) {
    return [
      bind("raggedMatmul", [ct, swapLast2(w!), gs!], {}),
      bind("raggedMatmulWeightGrad", [x!, ct, gs!], {}),
      null,
    ];
  },
};

const raggedMatmulWeightGrad: PrimitiveDef<"raggedMatmulWeightGrad"> = {
  abstractEval(inputs) {
    checkArity("raggedMatmulWeightGrad", inputs, 3);
    const [x, dy, gs] = inputs as [Aval, Aval, Aval];
    checkFloatPair("raggedMatmulWeightGrad", x, dy);
    if (x.shape.length !== 2 || dy.shape.length !== 2 || x.shape[0] !== dy.shape[0] || gs.shape.length !== 1) {
      throw new ShapeError(
        `raggedMatmulWeightGrad: expected x [M,K], dy [M,N], groupSizes [G]; got ${shapeToString(x.shape)}, ` +
          `${shapeToString(dy.shape)}, ${shapeToString(gs.shape)}`,
      );
    }
    checkGroupSizesAval("raggedMatmulWeightGrad", gs, gs.shape[0]!);
    return { shape: [gs.shape[0]!, x.shape[1]!, dy.shape[1]!], dtype: x.dtype };
  },
  impl([x, dy, gs]) {
    const [M, K] = x!.shape as [number, number];
    const N = dy!.shape[1]!;
    const G = gs!.size;
    checkGroupSizes("raggedMatmulWeightGrad", gs!, M);
    const acc = new Float64Array(G * K * N);
    let row = 0;
    for (let g = 0; g < G; g++) {
      for (let r = 0; r < gs!.data[g]!; r++, row++) {
        for (let k = 0; k < K; k++) {
          const xv = x!.data[row * K + k]!;
          const base = (g * K + k) * N;
          for (let j = 0; j < N; j++) acc[base + j]! += xv * dy!.data[row * N + j]!;
        }
      }
    }
    const out = allocArray(x!.dtype, acc.length);
    out.set(acc);
    return new NDArray(x!.dtype, [G, K, N], out);
  },
  jvp: bilinearJvp("raggedMatmulWeightGrad"),
  vjp(ct, [x, dy, gs]) {
    // out_g = x_g^T dy_g  =>  dx_g = dy_g ct_g^T,  ddy_g = x_g ct_g.
    return [bind("raggedMatmul", [dy!, swapLast2(ct), gs!], {}), bind("raggedMatmul", [x!, ct, gs!], {}), null];
  },
};

export const linalgPrimitives = { matmul, raggedMatmul, raggedMatmulWeightGrad };
