/**
 * The code generator's public entry: `compile` with every target's emitter
 * registered, plus the kernel-IR types a runtime needs.
 */
import "./emit/all";

export { compile, CompileError, type CompileOptions } from "./compile";
export { registerEmitter, getEmitter, type Emitter } from "./emit/emitter";
export {
  scheduleFor,
  knobsForDevice,
  SCHEDULE_CANDIDATES,
  type Schedule,
  type ScheduleOptions,
  type ScheduleKnobs,
  type ScheduleCandidate,
} from "./schedule";
export {
  deviceProfile,
  cudaDeviceProfile,
  DEVICE_CLASSES,
  type DeviceClass,
  type DeviceProfile,
  type DeviceSpec,
} from "./device";
export { evalSize, sizeToText } from "./kernel_ir";
export type { KernelBundle, Kernel, BufferDecl, Launch, SizeExpr, ScalarType, Target } from "./kernel_ir";
