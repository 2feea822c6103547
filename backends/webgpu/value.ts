/**
 * Tensors whose values live in WebGPU buffers. The buffer is owned by the
 * value: when the tensor is garbage-collected a FinalizationRegistry returns
 * it to the pool, so users never count references (and the pool asks for a
 * collection when its live bytes pass the budget, see BufferPool);
 * `t.dispose()` / `using` (or `releaseWebGPU(t)`) frees it earlier.
 */
import { NDArray } from "../../dsl/ndarray";
import type { DType } from "../../dsl/dtype";
import type { DeviceValue, Tensor } from "../../dsl/tensor";
import { downloadArray, releaseArray, type BufferPool, type DeviceArray } from "./buffers";
import type { WebGPUContext } from "./device";
import type { SubmissionPace } from "./pacing";

interface Held {
  readonly pool: BufferPool;
  readonly array: DeviceArray;
}

const collector = new FinalizationRegistry<Held>(({ pool, array }) => releaseArray(pool, array));

/** A value on a WebGPU device (the `DeviceValue` of webgpu tensors). */
export class WebGPUValue implements DeviceValue {
  readonly backend = "webgpu";
  private released = false;

  /**
   * @param ready resolves when the submission that computes the value was accepted (rejects with its error)
   * @param owner the pool to return the buffer to when this value dies; undefined when someone else owns it (constants)
   */
  constructor(
    readonly ctx: WebGPUContext,
    readonly array: DeviceArray,
    readonly dtype: DType,
    readonly shape: readonly number[],
    private readonly ready: Promise<void>,
    private readonly owner?: BufferPool,
    /** The submission that computes the value, to wait on it without starving the device (pacing.ts). */
    private readonly pace?: SubmissionPace,
  ) {
    if (owner) collector.register(this, { pool: owner, array }, this);
  }

  /** Copies the value to the host (after the work that computes it). */
  async read(): Promise<NDArray> {
    if (this.released)
      throw new Error(
        `webgpu backend: this ${this.dtype}[${this.shape.join(",")}] tensor was released (dispose() or releaseWebGPU()); it has no value any more`,
      );
    await this.ready;
    const data = await (this.pace
      ? this.pace.poll(() => downloadArray(this.ctx, this.array))
      : downloadArray(this.ctx, this.array));
    return new NDArray(this.dtype, [...this.shape], data as NDArray["data"]);
  }

  /** Returns the buffer to the pool now (idempotent). Reading afterwards is an error. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.owner) {
      collector.unregister(this);
      releaseArray(this.owner, this.array);
    }
  }

  /** `Tensor.dispose()` of a webgpu tensor. */
  dispose(): void {
    this.release();
  }

  get isReleased(): boolean {
    return this.released;
  }
}

/** The WebGPU value of a tensor, or undefined for tensors that do not live on WebGPU. */
export function webgpuValueOf(t: Tensor): WebGPUValue | undefined {
  const node = t._node;
  if (node.kind !== "device") return undefined;
  let value = node.value;
  while (value.wrapped) value = value.wrapped; // e.g. checked numerics
  return value instanceof WebGPUValue ? value : undefined;
}

/**
 * Frees a WebGPU tensor's buffer now instead of when it is garbage-collected
 * (optional: memory is reclaimed automatically). The tensor cannot be read
 * afterwards. The same as `t.dispose()`, but an error for a tensor that is not on WebGPU.
 * @example
 * const y = f(x);          // a webgpu tensor
 * console.log(await y.data());
 * releaseWebGPU(y);        // give its buffer back before the next big step
 */
export function releaseWebGPU(t: Tensor): void {
  if (!(t && typeof t === "object" && "_node" in t))
    throw new TypeError(
      `releaseWebGPU: expected a webgpu tensor (the result of a webgpu jit), got ${t === null ? "null" : typeof t}`,
    );
  const v = webgpuValueOf(t);
  if (!v)
    throw new TypeError(
      `releaseWebGPU: the tensor (${t.dtype}[${t.shape.join(",")}]) does not live on the webgpu backend`,
    );
  v.release();
}
