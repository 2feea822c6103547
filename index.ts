/**
 * moeforge: Mixture-of-Experts models as pure functions over typed tensors.
 * Trace them into a typed program IR, differentiate them (forward and reverse,
 * composable), and run them on the reference interpreter or generated kernels.
 */
export * from "./core";
export { jit, type JitOptions, type JitFunction } from "./backends/jit";
export { saveSafetensors, loadSafetensors, SafetensorsError, type SaveSafetensorsOptions } from "./dsl/safetensors";
export {
  setBackend,
  getBackend,
  defaultBackend,
  registerBackend,
  type Backend,
  type BackendName,
} from "./backends/registry";
export * as moe from "./moe/index";
import "./backends/cpu";
export { cpuMemoryStats, setCpuMemoryBudget, clearCpuMemory, type CpuMemoryStats } from "./backends/cpu/index";
// The webgpu backend registers itself; `await initWebGPU()` once before using it (device creation is async).
export {
  initWebGPU,
  releaseWebGPU,
  webgpuMemoryStats,
  setWebGPUMemoryBudget,
  setWebGPUTuning,
  type WebGPUInitOptions,
  type WebGPUMemoryStats,
} from "./backends/webgpu/index";
// The cuda backend is Node-only (it runs nvcc): `import "moeforge/cuda"` (cuda.ts) registers it.
// Code generation: compile a Program to kernels (WGSL, CUDA, JS) with every emitter registered.
export { compile, CompileError, type CompileOptions, type KernelBundle } from "./codegen/index";
export { type DeviceClass, type DeviceProfile, type DeviceSpec } from "./codegen/index";
