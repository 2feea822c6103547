/**
 * The `wasm` target: each kernel rendered as a WebAssembly module (kernel.ts),
 * or, for kernels with workgroup shared memory and barriers (GPU-shaped
 * schedules) or index math past 2^31, as the JS target's source over the same
 * memory. Every module is
 * checked with `WebAssembly.validate` as it is emitted, so an encoder bug fails
 * at compile time, naming the kernel.
 *
 * A kernel's `source` is `wasm:` followed by the module bytes in base64, or
 * plain JS source (see `decodeWasmSource`).
 */
import type { Kernel } from "../../kernel_ir";
import { registerEmitter, type Emitter } from "../emitter";
import { renderJs } from "../js";
import { staticIndexPastI32 } from "../../analysis/limits";
import { analyzeRanges } from "../../analysis/ranges";
import { ModuleBuilder } from "./module";
import { renderGemmKernel, simdContraction } from "./gemm";
import { renderWasmKernel, wasmRenderable, type WasmMemoryKind } from "./kernel";
import { renderPackKernel, simdPack } from "./pack";
import { vectorisable } from "./vectorise";
import { renderVectorKernel } from "./vector_kernel";

/** Elementwise kernels get vector loops unless MOEFORGE_WASM_VECTOR=0 (read per kernel: A/B in one process). */
function vectorLoops(): boolean {
  const v = typeof process === "object" ? process.env?.MOEFORGE_WASM_VECTOR : undefined;
  if (v === undefined || v === "1") return true;
  if (v === "0") return false;
  throw new Error(`MOEFORGE_WASM_VECTOR must be 0 or 1, not ${JSON.stringify(v)}`);
}

const PREFIX = "wasm:";

/** Whether this engine has WebAssembly with SIMD128 (the wasm target's requirement), checked once. */
export function wasmSimdAvailable(): boolean {
  if (simd === undefined) {
    // A function returning f32x4.splat(0): a module the engine accepts only with SIMD128.
    const m = new ModuleBuilder();
    m.func({ params: [], results: ["v128"] }, (f) => f.f32(0).simd("f32x4.splat"));
    const probe = m.encode();
    simd = typeof WebAssembly === "object" && WebAssembly.validate(probe);
  }
  return simd;
}
let simd: boolean | undefined;

/** The memory kind this process's kernels use: shared where SharedArrayBuffer exists (threads), else unshared. */
export function wasmMemoryKind(): WasmMemoryKind {
  return { shared: typeof SharedArrayBuffer !== "undefined" };
}

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** A kernel's wasm module bytes, or null when its source is JS (kernels with barriers). */
export function decodeWasmSource(source: string): Uint8Array<ArrayBuffer> | null {
  if (!source.startsWith(PREFIX)) return null;
  const s = atob(source.slice(PREFIX.length));
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * Renders a kernel for the wasm target: a validated module, or JS for barrier
 * kernels and for kernels whose index math passes 2^31 (wasm's is i32; JS
 * numbers are exact to 2^53).
 */
export function renderWasmTarget(kernel: Kernel, memory: WasmMemoryKind = wasmMemoryKind()): string {
  if (wasmRenderable(kernel) !== true || staticIndexPastI32(analyzeRanges(kernel))) return renderJs(kernel);
  const bytes = simdContraction(kernel)
    ? renderGemmKernel(kernel, memory)
    : simdPack(kernel)
      ? renderPackKernel(kernel, memory)
      : vectorLoops() && vectorisable(kernel) === true
        ? renderVectorKernel(kernel, memory)
        : renderWasmKernel(kernel, memory);
  if (!WebAssembly.validate(bytes))
    throw new Error(`wasm emitter: the module of kernel ${kernel.name} does not validate (an encoder bug)`);
  return PREFIX + toBase64(bytes);
}

export const wasmEmitter: Emitter = {
  target: "wasm",
  supports: () => true,
  render: (k) => renderWasmTarget(k),
};

registerEmitter(wasmEmitter);
