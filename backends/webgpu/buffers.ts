/**
 * Device memory for the WebGPU backend: logical buffers made of one or more
 * GPUBuffers ("chunks", see `WgslSplit`), a pool that recycles GPUBuffers by
 * size class under a byte budget, and host <-> device conversion of element types (bool is stored as
 * u32, f16 as 16-bit halves, f64 does not exist on WebGPU).
 */
import type { ScalarType } from "../../codegen/kernel_ir";
import { fromHalfBits, toHalfBits } from "../../dsl/half"; // IEEE binary16 bits: the same host conversion as the CUDA target
import { collectGarbage } from "../gc";
import { sizeClass } from "../size_class";
import type { WebGPUContext } from "./device";

// GPUBufferUsage / GPUMapMode values from the WebGPU spec (the Node package does not define the globals).
export const USAGE = { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64, STORAGE: 128 } as const;
const MAP_MODE_READ = 1;
const STORAGE_USAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;

/** Bytes per stored element. */
export function elementBytes(type: ScalarType): number {
  if (type === "f64")
    throw new TypeError(
      "webgpu backend: f64 is not a WebGPU type; run f64 programs on the cpu or interp backend, or cast to f32",
    );
  return type === "f16" ? 2 : 4;
}

/** Elements per chunk for a type: as many as one binding may cover. */
export function chunkElementsFor(ctx: WebGPUContext, type: ScalarType): number {
  return Math.floor(ctx.maxBindingBytes / elementBytes(type));
}

/** Smallest pooled buffer (bytes). */
const MIN_BUFFER = 256;

/** Bytes allocated for a request: its size class, or a multiple of 256 where the class would pass the binding limit. */
function allocBytes(bytes: number, maxBinding: number): number {
  const cls = sizeClass(bytes, MIN_BUFFER);
  return cls <= maxBinding ? cls : Math.max(16, Math.ceil(bytes / 256) * 256);
}

/** What a buffer pool holds (see `webgpuMemoryStats`). */
export interface WebGPUMemoryStats {
  /** Bytes of buffers handed out and not yet returned: live tensors, constants, buffers of runs in flight. */
  readonly liveBytes: number;
  /** Bytes of returned buffers kept for reuse. */
  readonly freeBytes: number;
  /**
   * Target for liveBytes + freeBytes: past it free buffers are destroyed (down to an eighth of the budget)
   * and, when liveBytes alone pass it, a garbage collection is asked for.
   */
  readonly budgetBytes: number;
  /** Buffers the pool created and destroyed so far. */
  readonly created: number;
  readonly destroyed: number;
  /** Garbage collections the pool asked for because liveBytes passed the budget. */
  readonly collections: number;
}

/**
 * GPUBuffers recycled by size class. Buffers of dead tensors and finished
 * launches come back here instead of being destroyed (creating buffers is
 * slow), up to a byte budget for live + free buffers: past it the pool
 * destroys free buffers, oldest first (keeping an eighth of the budget), and when the live bytes alone pass it
 * asks the JS engine for a garbage collection (`collectGarbage`), so that
 * tensors nobody references any more return their buffers (their finalizers
 * run right after) instead of waiting for a collection the small JS heap
 * would not need for a long time. The budget is a target, not a cap: live
 * buffers are never taken away.
 */
export class BufferPool {
  /** Free buffers by usage and size, oldest first; a Map in insertion order. */
  private readonly free = new Map<string, GPUBuffer[]>();
  private liveBytes = 0;
  private freeBytes = 0;
  private created = 0;
  private destroyed = 0;
  private collections = 0;
  /** Bytes created since the last collection asked for (rate limit: one per budget/4 of new buffers). */
  private sinceCollection = 0;

  constructor(
    private readonly device: GPUDevice,
    public budgetBytes = 1024 * 2 ** 20,
    /** Asks for a garbage collection; returns whether one ran. */
    private readonly collect: () => boolean = collectGarbage,
  ) {}

  /** A buffer of at least `bytes` bytes with exactly `usage` (storage + copies by default). */
  acquire(bytes: number, usage: number = STORAGE_USAGE): GPUBuffer {
    const size = allocBytes(bytes, this.device.limits.maxStorageBufferBindingSize);
    const hit = this.free.get(`${usage}:${size}`)?.pop();
    if (hit) {
      this.freeBytes -= size;
      this.liveBytes += size;
      return hit;
    }
    this.trim(size);
    if (this.liveBytes + size > this.budgetBytes && this.sinceCollection >= this.budgetBytes / 4) {
      this.sinceCollection = 0;
      if (this.collect()) this.collections++;
    }
    const buffer = this.device.createBuffer({ size, usage });
    this.created++;
    this.sinceCollection += size;
    this.liveBytes += size;
    return buffer;
  }

  /** Takes a buffer back for reuse (work already submitted with it runs first: queue order). */
  release(buffer: GPUBuffer): void {
    this.liveBytes -= buffer.size;
    if (this.freeBytes + buffer.size > this.freeAllowance(0)) {
      this.destroy(buffer);
      return;
    }
    const key = `${buffer.usage}:${buffer.size}`;
    const list = this.free.get(key) ?? [];
    list.push(buffer);
    this.free.set(key, list);
    this.freeBytes += buffer.size;
  }

  /** Destroys every free buffer (live ones stay). */
  clear(): void {
    this.trim(Infinity);
  }

  /** Bytes held for reuse (for tests and diagnostics). */
  get heldBytes(): number {
    return this.freeBytes;
  }

  stats(): WebGPUMemoryStats {
    const { liveBytes, freeBytes, budgetBytes, created, destroyed, collections } = this;
    return { liveBytes, freeBytes, budgetBytes, created, destroyed, collections };
  }

  /**
   * Free bytes the pool may keep with `extra` more live: what the budget leaves, but at least an eighth of
   * it, so that when live bytes are at the budget (e.g. garbage waiting for its collection) a buffer freed
   * with `dispose()` still serves the next call instead of being destroyed and created again.
   */
  private freeAllowance(extra: number): number {
    return Math.max(this.budgetBytes - this.liveBytes - extra, this.budgetBytes / 8);
  }

  /** Destroys free buffers, oldest size first, until `extra` more live bytes leave them within their allowance. */
  private trim(extra: number): void {
    for (const [key, list] of this.free) {
      while (list.length && this.freeBytes > this.freeAllowance(extra)) {
        const b = list.shift()!;
        this.freeBytes -= b.size;
        this.destroy(b);
      }
      if (!list.length) this.free.delete(key);
      if (this.freeBytes <= this.freeAllowance(extra)) return;
    }
  }

  private destroy(buffer: GPUBuffer): void {
    buffer.destroy();
    this.destroyed++;
  }
}

/** A logical array of `length` elements of `type` on the device, stored in chunks of `chunkElements`. */
export interface DeviceArray {
  readonly type: ScalarType;
  readonly length: number;
  readonly chunkElements: number;
  readonly chunks: readonly GPUBuffer[];
}

/** Allocates a device array from the pool (split into chunks over the binding limit). */
export function allocArray(ctx: WebGPUContext, pool: BufferPool, type: ScalarType, length: number): DeviceArray {
  const chunkElements = chunkElementsFor(ctx, type);
  const n = Math.max(1, Math.ceil(length / chunkElements));
  const chunks = Array.from({ length: n }, (_, c) =>
    pool.acquire(Math.min(chunkElements, length - c * chunkElements) * elementBytes(type)),
  );
  return { type, length, chunkElements, chunks };
}

/** Returns an array's chunks to the pool. */
export function releaseArray(pool: BufferPool, a: DeviceArray): void {
  for (const b of a.chunks) pool.release(b);
}

/** Host elements -> the bytes a buffer of `type` holds. */
export function encodeElements(type: ScalarType, data: ArrayLike<number>): ArrayBuffer {
  const n = data.length;
  switch (type) {
    case "f32":
      return Float32Array.from(data).buffer;
    case "i32":
      return Int32Array.from(data).buffer;
    case "u32":
      return Uint32Array.from(data).buffer;
    case "bool":
      return Uint32Array.from(data, (x) => (x ? 1 : 0)).buffer;
    case "f16": {
      const out = new Uint16Array(n + (n % 2));
      for (let i = 0; i < n; i++) out[i] = toHalfBits(data[i]!);
      return out.buffer;
    }
    case "f64":
      elementBytes(type);
      throw new Error("unreachable");
  }
}

/** Bytes of a buffer of `type` -> host elements (f16 widened to f32, bool as 0/1). */
export function decodeElements(
  type: ScalarType,
  bytes: ArrayBuffer,
  n: number,
): Float32Array | Int32Array | Uint32Array | Uint8Array {
  switch (type) {
    case "f32":
      return new Float32Array(bytes, 0, n).slice();
    case "i32":
      return new Int32Array(bytes, 0, n).slice();
    case "u32":
      return new Uint32Array(bytes, 0, n).slice();
    case "bool":
      return Uint8Array.from(new Uint32Array(bytes, 0, n), (x) => (x ? 1 : 0));
    case "f16":
      return Float32Array.from(new Uint16Array(bytes, 0, n), fromHalfBits);
    case "f64":
      elementBytes(type);
      throw new Error("unreachable");
  }
}

/** Writes host elements into a device array (queued: ordered before later submissions). */
export function uploadArray(ctx: WebGPUContext, a: DeviceArray, data: ArrayLike<number>): void {
  if (data.length !== a.length)
    throw new Error(`internal: uploading ${data.length} elements into a device array of ${a.length}`);
  const bytes = encodeElements(a.type, data);
  const eb = elementBytes(a.type);
  a.chunks.forEach((buf, c) => {
    const start = c * a.chunkElements * eb;
    const end = Math.min(bytes.byteLength, start + a.chunkElements * eb);
    const size = Math.ceil((end - start) / 4) * 4; // writeBuffer needs multiples of 4 bytes
    if (size > 0) ctx.device.queue.writeBuffer(buf, 0, padTo(bytes, start, size));
  });
}

function padTo(bytes: ArrayBuffer, start: number, size: number): ArrayBuffer {
  if (start + size <= bytes.byteLength) return bytes.slice(start, start + size);
  const out = new Uint8Array(size);
  out.set(new Uint8Array(bytes, start));
  return out.buffer;
}

/** Readback buffers kept per device for the next read of the same size (creating buffers is slow). */
const stagingFree = new WeakMap<GPUDevice, Map<number, GPUBuffer[]>>();
/** Readback buffers kept per size: a call reads a handful of outputs; more waiting reads create their own. */
const STAGING_KEPT_PER_SIZE = 8;
/** Larger readback buffers are not kept (they would hold memory no budget accounts for). */
const STAGING_KEPT_MAX_BYTES = 16 * 2 ** 20;

/** A mappable buffer of `size` bytes for a readback: a kept one when there is one. */
export function acquireStaging(device: GPUDevice, size: number): GPUBuffer {
  return (
    stagingFree.get(device)?.get(size)?.pop() ??
    device.createBuffer({ size, usage: USAGE.MAP_READ | USAGE.COPY_DST, label: "moeforge readback" })
  );
}

/** Gives back a readback buffer that is no longer mapped, kept for the next read of its size. */
export function releaseStaging(device: GPUDevice, buffer: GPUBuffer): void {
  let bySize = stagingFree.get(device);
  if (!bySize) stagingFree.set(device, (bySize = new Map()));
  const list = bySize.get(buffer.size) ?? [];
  if (buffer.size > STAGING_KEPT_MAX_BYTES || list.length >= STAGING_KEPT_PER_SIZE) return buffer.destroy();
  list.push(buffer);
  bySize.set(buffer.size, list);
}

/** Copies a device array to the host (after every submission so far). */
export async function downloadArray(
  ctx: WebGPUContext,
  a: DeviceArray,
): Promise<Float32Array | Int32Array | Uint32Array | Uint8Array> {
  const eb = elementBytes(a.type);
  const total = Math.ceil((a.length * eb) / 4) * 4;
  if (total === 0) return decodeElements(a.type, new ArrayBuffer(0), 0);
  const staging = acquireStaging(ctx.device, total);
  const enc = ctx.device.createCommandEncoder({ label: "moeforge readback" });
  a.chunks.forEach((buf, c) => {
    const start = c * a.chunkElements * eb;
    const size = Math.min(total - start, Math.ceil((a.chunkElements * eb) / 4) * 4);
    if (size > 0) enc.copyBufferToBuffer(buf, 0, staging, start, size);
  });
  ctx.device.queue.submit([enc.finish()]);
  let mapped = false;
  try {
    await staging.mapAsync(MAP_MODE_READ);
    mapped = true;
    const bytes = staging.getMappedRange().slice(0);
    staging.unmap();
    return decodeElements(a.type, bytes, a.length);
  } finally {
    if (mapped && staging.mapState === "unmapped") releaseStaging(ctx.device, staging);
    else staging.destroy(); // a failed map (device lost, an error): never reused
  }
}
