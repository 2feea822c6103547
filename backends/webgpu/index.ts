/**
 * The `webgpu` backend: WGSL kernels run through WebGPU (a browser's
 * `navigator.gpu`, or Dawn from the npm package `webgpu` in Node; on machines
 * without a GPU Dawn runs on SwiftShader, see scripts/setup.sh).
 *
 * @example
 * import { initWebGPU, jit, grad, tensor } from "moeforge";
 * await initWebGPU();                                   // once: device creation is async
 * const f = jit((x) => x.mul(x).sum(), { backend: "webgpu" });
 * const y = f(tensor([1, 2, 3]));                       // runs on the GPU; y stays there
 * console.log(await y.data());                          // Float32Array [14]
 * const g = jit(grad((x) => x.mul(x).sum()), { backend: "webgpu" });
 * console.log(await g(tensor([1, 2, 3])).data());       // Float32Array [2, 4, 6]
 */
import { registerDeviceEagerHandler } from "../../dsl/trace";
import { registerBackend } from "../registry";
import { webgpuBackend } from "./backend";
import { webgpuEager } from "./eager";

registerBackend(webgpuBackend);
registerDeviceEagerHandler("webgpu", webgpuEager);

export { webgpuBackend, webgpuExecutable, runOnWebGPU, profileOnWebGPU } from "./backend";
export type { LaunchTime } from "./executor";
export {
  initWebGPU,
  createWebGPUContext,
  webgpuAvailability,
  type WebGPUContext,
  type WebGPUInitOptions,
} from "./device";
export { releaseWebGPU, webgpuValueOf, WebGPUValue } from "./value";
export { runWgslBundle, runtimeFor, webgpuMemoryStats, setWebGPUMemoryBudget, type HostArray } from "./runtime";
export type { WebGPUMemoryStats } from "./buffers";
export { wgslCompilationMessages } from "./pipelines";
export { foldGrid } from "./launch";
export { setWebGPUTuning, webgpuTuning, type TunedSchedule } from "./tuning";
export { deviceProfileOfAdapter, type AdapterFacts } from "./device_profile";
