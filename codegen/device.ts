/**
 * What the schedule knows about the device a bundle will run on, as data.
 *
 * A target's capability record (targets.ts) says what the *language* offers
 * (shared memory, atomics); a `DeviceProfile` says what is *fast* on the
 * hardware behind it. The schedule reads the profile's fields (workgroup memory
 * fast or slow, subgroup size, limits), never its class name: the class only
 * picks the defaults. Runtimes derive a profile from the device they hold (the
 * webgpu backend from the adapter's info, `backends/webgpu/device_profile.ts`;
 * CUDA from a compute capability); without one, `compile` schedules as before.
 */

/**
 * - `cpu`: a GPU API implemented on CPU cores (SwiftShader, llvmpipe, WARP):
 *   invocations are SIMD lanes, workgroup memory is ordinary memory and a
 *   barrier switches between fibres, so barrier-free register tiles win;
 * - `discrete` / `integrated`: real GPUs, with fast on-chip workgroup memory.
 */
export type DeviceClass = "cpu" | "discrete" | "integrated";

export const DEVICE_CLASSES: readonly DeviceClass[] = ["cpu", "discrete", "integrated"];

export interface DeviceProfile {
  readonly class: DeviceClass;
  /**
   * `fast`: on-chip workgroup memory and cheap barriers (stage GEMM tiles in
   * shared memory, reduce long rows with a workgroup). `slow`: avoid both.
   */
  readonly workgroupMemory: "fast" | "slow";
  /** Invocations that run in lockstep (a warp, a SIMD width), when known. */
  readonly subgroupSize?: number;
  /** Limits of the device, when known (schedules stay within them). */
  readonly maxInvocationsPerWorkgroup?: number;
  readonly maxWorkgroupStorageBytes?: number;
  /**
   * Storage buffers one kernel may bind (WebGPU `maxStorageBuffersPerShaderStage`), when known;
   * it can only lower fusion's budget (`FUSION_BUFFER_BUDGET`), never raise it.
   */
  readonly maxStorageBuffersPerShaderStage?: number;
  /** CUDA compute capability as major * 10 + minor (e.g. 90 for sm_90), when known. */
  readonly computeCapability?: number;
}

const CLASS_DEFAULTS: { readonly [C in DeviceClass]: DeviceProfile } = {
  cpu: { class: "cpu", workgroupMemory: "slow" },
  discrete: { class: "discrete", workgroupMemory: "fast" },
  integrated: { class: "integrated", workgroupMemory: "fast" },
};

/** A device class, or a profile whose unspecified fields take the class's defaults. */
export type DeviceSpec = DeviceClass | (Partial<DeviceProfile> & { readonly class: DeviceClass });

/**
 * The full profile of a device class or partial profile; throws naming the
 * known classes for an unknown one.
 * @example deviceProfile("cpu").workgroupMemory // "slow"
 * @example deviceProfile({ class: "discrete", subgroupSize: 32 }).workgroupMemory // "fast"
 */
export function deviceProfile(spec: DeviceSpec): DeviceProfile {
  const cls = typeof spec === "string" ? spec : spec.class;
  const base = (CLASS_DEFAULTS as Record<string, DeviceProfile | undefined>)[cls];
  if (!base) throw new Error(`unknown device class "${String(cls)}"; expected one of ${DEVICE_CLASSES.join(", ")}`);
  return typeof spec === "string" ? base : { ...base, ...spec };
}

/**
 * The profile of a CUDA device of compute capability `major.minor` (e.g. 9.0
 * for an H100/H200): a discrete GPU with 32-wide warps.
 * @example cudaDeviceProfile(9, 0).computeCapability // 90
 */
export function cudaDeviceProfile(major: number, minor = 0): DeviceProfile {
  if (!Number.isInteger(major) || !Number.isInteger(minor) || major < 1 || minor < 0 || minor > 9)
    throw new Error(`cuda device: compute capability ${major}.${minor} is not of the form <major>.<minor> (e.g. 9.0)`);
  return { ...CLASS_DEFAULTS.discrete, subgroupSize: 32, computeCapability: major * 10 + minor };
}
