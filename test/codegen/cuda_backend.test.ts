/**
 * The `cuda` backend through the public API: where there is no NVIDIA GPU it
 * refuses with the reason; where there is one (and nvcc), jit runs forward and
 * gradient programs on it and matches the interpreter.
 */
import { describe, expect, it } from "vitest";
import { getBackend, grad, jit, ops, setBackend, tensor, type Tensor } from "../../index";
import "../../cuda";
import { cudaAvailability, nvidiaGpus } from "../../backends/cuda/device";
import { findNvcc } from "../../backends/cuda/nvcc";
import { relativeError } from "../../testing/random_programs";

const canRun = nvidiaGpus().length > 0 && findNvcc() !== null;
if (!canRun)
  console.warn(
    `cuda_backend.test: no NVIDIA GPU (or no nvcc) here: the GPU run of jit programs is SKIPPED (${cudaAvailability()})`,
  );

describe("cuda backend", () => {
  it("is registered, and says why it cannot run when there is no GPU or nvcc", () => {
    const ok = cudaAvailability();
    if (canRun) expect(ok).toBe(true);
    else {
      expect(ok).toMatch(/no NVIDIA GPU found|nvcc is not installed/);
      expect(() => getBackend("cuda")).toThrow(
        /backend "cuda" is not available: (no NVIDIA GPU found|an NVIDIA GPU is present but nvcc)/,
      );
      expect(() => setBackend("cuda")).toThrow(/not available/);
    }
  });

  it.skipIf(!canRun)("runs jit forward and gradient programs on the GPU like the interpreter", () => {
    const f = (x: Tensor, w: Tensor) => ops.sum(ops.softmax(ops.tanh(ops.matmul(x, w)), -1));
    const x = tensor(
      Array.from({ length: 6 * 5 }, (_, i) => Math.sin(i)),
      [6, 5],
    );
    const w = tensor(
      Array.from({ length: 5 * 7 }, (_, i) => Math.cos(i)),
      [5, 7],
    );
    const want = [jit(f, { backend: "interp" })(x, w), grad(f)(x, w)].map((t) => t.dataSync());
    const got = [jit(f, { backend: "cuda" })(x, w), jit(grad(f), { backend: "cuda" })(x, w)].map((t) => t.dataSync());
    got.forEach((g, i) => expect(relativeError(g, want[i]!)).toBeLessThan(1e-4));
  });
});
