import type { NDArray } from "./ndarray";
import type { AnyTypedArray, DType, TypedArrayFor } from "./dtype";
import type { Var } from "./program";
import type { Dim, Shape } from "./shape";
import type { TraceBuilder } from "./trace";
import type { Broadcast, CheckBroadcast, CheckMatmul, CheckReshape, MatmulShape } from "./types";
import type * as opsModule from "./ops";

declare global {
  interface SymbolConstructor {
    /**
     * The `using` protocol's key (TypeScript's lib.esnext.disposable declares it as well). Declared
     * here so that a consumer whose `lib` predates it still type-checks moeforge's declarations.
     */
    readonly dispose: unique symbol;
  }
}

/** The ops the tensor methods call. */
export type TensorOps = Pick<
  typeof opsModule,
  | "abs"
  | "add"
  | "argmax"
  | "broadcastTo"
  | "cast"
  | "div"
  | "equal"
  | "exp"
  | "expandDims"
  | "gather"
  | "gelu"
  | "greater"
  | "less"
  | "log"
  | "logSoftmax"
  | "logsumexp"
  | "matmul"
  | "max"
  | "maximum"
  | "mean"
  | "min"
  | "minimum"
  | "mul"
  | "neg"
  | "pow"
  | "relu"
  | "reshape"
  | "sigmoid"
  | "silu"
  | "softmax"
  | "sqrt"
  | "square"
  | "squeeze"
  | "sub"
  | "sum"
  | "take"
  | "tanh"
  | "transpose"
>;

/**
 * Installed by dsl/ops.ts when it loads: the ops import `Tensor`, so this module
 * cannot import them back; a tensor exists only once the ops have loaded.
 */
let ops: TensorOps;

/** @internal Called once, by dsl/ops.ts. */
export function installTensorOps(table: TensorOps): void {
  ops = table;
}

/**
 * A value that lives on an accelerator (e.g. a WebGPU buffer). Backends that
 * keep results on the device implement this; host code reads it with `data()`.
 */
export interface DeviceValue {
  readonly backend: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Copies the value to the host. */
  read(): Promise<NDArray>;
  /** The backend's own value, when this one wraps it (checked numerics checks before reading). */
  readonly wrapped?: DeviceValue;
  /** Frees the device memory now (idempotent); reading afterwards is an error. */
  dispose?(): void;
}

/** @internal What a tensor is: a host value, a device value, or a variable of a trace in progress. */
export type TensorNode =
  | { readonly kind: "concrete"; readonly value: NDArray }
  | { readonly kind: "device"; readonly value: DeviceValue }
  | { readonly kind: "tracer"; readonly builder: TraceBuilder; readonly v: Var };

/** Operand of elementwise ops: a tensor or a JS number (takes the tensor's dtype). */
export type Operand<S extends Shape = Shape, D extends DType = DType> = Tensor<S, D> | number;

/**
 * An n-dimensional array with a static shape type `S` and element type `D`.
 * Tensors are immutable values. Outside a trace they hold data (eager mode on
 * the interpreter); inside `trace`/`grad`/`jit` they stand for program variables.
 * Memory is garbage-collected like any JS value: `dispose()` (or `using`) only
 * frees a device tensor's memory early, for those who want to.
 *
 * @example
 * const x = tensor([[1, 2], [3, 4]]);        // Tensor<Shape, "f32">
 * const y = x.matmul(x).add(1).relu();
 * console.log(await y.data());
 */
export class Tensor<out S extends Shape = Shape, out D extends DType = DType> {
  /** @internal */
  readonly _node: TensorNode;
  readonly shape: S;
  readonly dtype: D;

  private constructor(node: TensorNode, shape: Shape, dtype: DType) {
    this._node = node;
    this.shape = Object.freeze([...shape]) as unknown as S;
    this.dtype = dtype as D;
  }

  /** @internal */
  static _concrete(value: NDArray): Tensor {
    return new Tensor({ kind: "concrete", value }, value.shape, value.dtype);
  }

  /** @internal A tensor whose value lives on a device (see `DeviceValue`). */
  static _device(value: DeviceValue): Tensor {
    return new Tensor({ kind: "device", value }, value.shape, value.dtype);
  }

  /** @internal */
  static _tracer(builder: TraceBuilder, v: Var): Tensor {
    return new Tensor({ kind: "tracer", builder, v }, v.shape, v.dtype);
  }

  /** @internal The value of a concrete tensor. */
  _value(): NDArray {
    if (this._node.kind === "device") {
      throw new Error(
        `this tensor (${this.dtype}[${this.shape.join(",")}]) lives on the ${this._node.value.backend} device; ` +
          `read it with \`await t.data()\` (synchronous reads only work for host tensors)`,
      );
    }
    if (this._node.kind !== "concrete") {
      throw new Error(
        `this tensor (${this._node.v}: ${this.dtype}[${this.shape.join(",")}]) is being traced and has no value yet; ` +
          `data() and item() only work outside trace/grad/jit`,
      );
    }
    return this._node.value;
  }

  /** Whether the tensor is a traced variable (inside trace/grad/jit) rather than a value. */
  get isTracer(): boolean {
    return this._node.kind === "tracer";
  }

  get rank(): number {
    return this.shape.length;
  }

  /** The elements, row-major, as a typed array (a copy). Works for host and device tensors. */
  async data(): Promise<TypedArrayFor<D>> {
    if (this._node.kind === "device")
      return (await this._node.value.read()).data.slice() as AnyTypedArray as TypedArrayFor<D>;
    return this.dataSync();
  }

  /**
   * Frees a device tensor's memory now (e.g. a WebGPU buffer goes back to the
   * pool) instead of when the tensor is garbage-collected; the tensor cannot be
   * read afterwards. Optional: memory comes back on its own. Useful in a loop
   * that never awaits, or to keep the peak low; a no-op for host tensors.
   * `using` calls it when the scope ends.
   * @example
   * for (const batch of batches) {
   *   using logits = model(batch);          // freed at the end of each iteration
   *   total += (await logits.data())[0];
   * }
   */
  dispose(): void {
    if (this._node.kind === "device") this._node.value.dispose?.();
  }

  /** `using t = f(x)`: `dispose()` when the scope ends. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Whether the value lives on an accelerator (read it with `await data()`). */
  get isDevice(): boolean {
    return this._node.kind === "device";
  }

  /** Synchronous `data()`. */
  dataSync(): TypedArrayFor<D> {
    return this._value().data.slice() as AnyTypedArray as TypedArrayFor<D>;
  }

  /** The single element of a size-1 tensor as a JS number. */
  item(): number {
    const v = this._value();
    if (v.size !== 1) throw new Error(`item(): tensor has ${v.size} elements, expected exactly 1`);
    return v.data[0]!;
  }

  /** Nested JS arrays of the elements. */
  toArray(): unknown {
    const v = this._value();
    const build = (dim: number, offset: number): unknown => {
      if (dim === v.shape.length) return v.data[offset];
      const stride = v.shape.slice(dim + 1).reduce((a, b) => a * b, 1);
      return Array.from({ length: v.shape[dim]! }, (_, i) => build(dim + 1, offset + i * stride));
    };
    return build(0, 0);
  }

  toString(): string {
    const head = `Tensor<${this.dtype}[${this.shape.join(",")}]>`;
    if (this._node.kind === "tracer") return `${head}(traced ${this._node.v})`;
    if (this._node.kind === "device") return `${head}(on ${this._node.value.backend}; await data() to read)`;
    const v = this._node.value;
    const fmt = (x: number) =>
      this.dtype === "bool" ? String(!!x) : Number.isInteger(x) ? String(x) : x.toPrecision(5);
    if (v.size > 64) return `${head}[${Array.from(v.data.slice(0, 8), fmt).join(", ")}, ...]`;
    return `${head}${JSON.stringify(this.toArray(), (_k, x) => (typeof x === "number" ? fmt(x) : x)).replaceAll('"', "")}`;
  }

  /**
   * `console.log(t)` and `util.inspect(t)` in Node show `toString()` (the dtype, shape and
   * values), not the internals. A registered symbol, so no Node import is needed.
   */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }

  /**
   * `JSON.stringify(t)` gives `{ dtype, shape, data }` (data row-major, as numbers);
   * traced and device tensors have no host value and are refused with the reason.
   * @example JSON.stringify(tensor([[1, 2]])) // '{"dtype":"f32","shape":[1,2],"data":[1,2]}'
   */
  toJSON(): { dtype: D; shape: S; data: number[] } {
    if (this._node.kind !== "concrete") {
      throw new TypeError(
        `JSON.stringify: ${this.toString()} has no host value to serialise` +
          (this._node.kind === "device" ? "; read it first (`await t.data()`)" : " (it is being traced)"),
      );
    }
    return { dtype: this.dtype, shape: this.shape, data: Array.from(this._node.value.data) };
  }

  // ---- common ops as methods (see `ops` for the full set) ----
  add<T extends Shape, E extends DType, B extends Shape = readonly []>(
    this: Tensor<T, E>,
    b: Operand<B, NoInfer<E>> & CheckBroadcast<T, B>,
  ): Tensor<Broadcast<T, B>, E> {
    return ops.add(this, b as Operand) as never;
  }
  sub<T extends Shape, E extends DType, B extends Shape = readonly []>(
    this: Tensor<T, E>,
    b: Operand<B, NoInfer<E>> & CheckBroadcast<T, B>,
  ): Tensor<Broadcast<T, B>, E> {
    return ops.sub(this, b as Operand) as never;
  }
  mul<T extends Shape, E extends DType, B extends Shape = readonly []>(
    this: Tensor<T, E>,
    b: Operand<B, NoInfer<E>> & CheckBroadcast<T, B>,
  ): Tensor<Broadcast<T, B>, E> {
    return ops.mul(this, b as Operand) as never;
  }
  div<T extends Shape, E extends DType, B extends Shape = readonly []>(
    this: Tensor<T, E>,
    b: Operand<B, NoInfer<E>> & CheckBroadcast<T, B>,
  ): Tensor<Broadcast<T, B>, E> {
    return ops.div(this, b as Operand) as never;
  }
  pow<T extends Shape, E extends DType, B extends Shape = readonly []>(
    this: Tensor<T, E>,
    b: Operand<B, NoInfer<E>> & CheckBroadcast<T, B>,
  ): Tensor<Broadcast<T, B>, E> {
    return ops.pow(this, b as Operand) as never;
  }
  maximum<T extends Shape, E extends DType, B extends Shape = readonly []>(
    this: Tensor<T, E>,
    b: Operand<B, NoInfer<E>> & CheckBroadcast<T, B>,
  ): Tensor<Broadcast<T, B>, E> {
    return ops.maximum(this, b as Operand) as never;
  }
  minimum<T extends Shape, E extends DType, B extends Shape = readonly []>(
    this: Tensor<T, E>,
    b: Operand<B, NoInfer<E>> & CheckBroadcast<T, B>,
  ): Tensor<Broadcast<T, B>, E> {
    return ops.minimum(this, b as Operand) as never;
  }
  neg(): Tensor<S, D> {
    return ops.neg(this) as never;
  }
  exp(): Tensor<S, D> {
    return ops.exp(this) as never;
  }
  log(): Tensor<S, D> {
    return ops.log(this) as never;
  }
  sqrt(): Tensor<S, D> {
    return ops.sqrt(this) as never;
  }
  tanh(): Tensor<S, D> {
    return ops.tanh(this) as never;
  }
  sigmoid(): Tensor<S, D> {
    return ops.sigmoid(this) as never;
  }
  relu(): Tensor<S, D> {
    return ops.relu(this) as never;
  }
  gelu(): Tensor<S, D> {
    return ops.gelu(this) as never;
  }
  silu(): Tensor<S, D> {
    return ops.silu(this) as never;
  }
  abs(): Tensor<S, D> {
    return ops.abs(this) as never;
  }
  square(): Tensor<S, D> {
    return ops.square(this) as never;
  }
  equal(b: Operand): Tensor<Shape, "bool"> {
    return ops.equal(this, b);
  }
  less(b: Operand): Tensor<Shape, "bool"> {
    return ops.less(this, b);
  }
  greater(b: Operand): Tensor<Shape, "bool"> {
    return ops.greater(this, b);
  }
  cast<D2 extends DType>(dtype: D2): Tensor<S, D2> {
    return ops.cast(this, dtype) as never;
  }

  matmul<T extends Shape, E extends DType, B extends Shape>(
    this: Tensor<T, E>,
    b: Tensor<B, NoInfer<E>> & CheckMatmul<T, B>,
  ): Tensor<MatmulShape<T, B>, E> {
    return ops.matmul(this, b as Tensor) as never;
  }
  reshape<T extends Shape, const R extends readonly Dim[]>(
    this: Tensor<T, D>,
    shape: R & CheckReshape<T, R>,
  ): Tensor<R, D> {
    return ops.reshape(this, shape as readonly Dim[]) as never;
  }
  transpose(perm?: readonly number[]): Tensor<Shape, D> {
    return ops.transpose(this, perm) as never;
  }
  get T(): Tensor<Shape, D> {
    return ops.transpose(this) as never;
  }
  broadcastTo<const T extends readonly Dim[]>(shape: T): Tensor<T, D> {
    return ops.broadcastTo(this, shape) as never;
  }
  expandDims(axis: number): Tensor<Shape, D> {
    return ops.expandDims(this, axis) as never;
  }
  squeeze(axis?: number | readonly number[]): Tensor<Shape, D> {
    return ops.squeeze(this, axis) as never;
  }

  sum(axis?: number | readonly number[], keepdims = false): Tensor<Shape, D> {
    return ops.sum(this, axis, keepdims) as never;
  }
  mean(axis?: number | readonly number[], keepdims = false): Tensor<Shape, D> {
    return ops.mean(this, axis, keepdims) as never;
  }
  max(axis?: number | readonly number[], keepdims = false): Tensor<Shape, D> {
    return ops.max(this, axis, keepdims) as never;
  }
  min(axis?: number | readonly number[], keepdims = false): Tensor<Shape, D> {
    return ops.min(this, axis, keepdims) as never;
  }
  argmax(axis: number): Tensor<Shape, "i32"> {
    return ops.argmax(this, axis);
  }
  logsumexp(axis?: number | readonly number[], keepdims = false): Tensor<Shape, D> {
    return ops.logsumexp(this, axis, keepdims) as never;
  }
  softmax(axis = -1): Tensor<S, D> {
    return ops.softmax(this, axis) as never;
  }
  logSoftmax(axis = -1): Tensor<S, D> {
    return ops.logSoftmax(this, axis) as never;
  }
  gather(indices: Tensor, axis: number): Tensor<Shape, D> {
    return ops.gather(this, indices, axis) as never;
  }
  take(indices: Tensor, axis = 0): Tensor<Shape, D> {
    return ops.take(this, indices, axis) as never;
  }
}
