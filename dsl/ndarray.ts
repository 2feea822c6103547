import { allocArray, type AnyTypedArray, type DType } from "./dtype";
import { numel, stridesOf, type ConcreteShape } from "./shape";

/**
 * A dense row-major host array: the value the interpreter computes with.
 * Always contiguous; views are materialised (clarity over speed: this is the oracle).
 */
export class NDArray {
  constructor(
    readonly dtype: DType,
    readonly shape: ConcreteShape,
    readonly data: AnyTypedArray,
  ) {
    if (data.length !== numel(shape)) {
      throw new Error(`internal: NDArray data length ${data.length} does not match shape [${shape.join(",")}]`);
    }
  }

  static zeros(dtype: DType, shape: ConcreteShape): NDArray {
    return new NDArray(dtype, shape, allocArray(dtype, numel(shape)));
  }

  static scalar(dtype: DType, x: number): NDArray {
    const a = NDArray.zeros(dtype, []);
    a.data[0] = x;
    return a;
  }

  get size(): number {
    return this.data.length;
  }

  get strides(): number[] {
    return stridesOf(this.shape);
  }
}

/**
 * Iterates over every multi-index of `shape` in row-major order, calling `fn`
 * with the flat output index and the index vector (mutated in place: copy to keep).
 */
export function forEachIndex(shape: ConcreteShape, fn: (flat: number, idx: number[]) => void): void {
  const n = numel(shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < n; flat++) {
    fn(flat, idx);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
}
