/**
 * The schedule's view of a WebGPU adapter (codegen/device.ts): CPU
 * implementations of WebGPU (SwiftShader, llvmpipe/lavapipe, WARP, or any
 * adapter that says it is a fallback) get the `cpu` class, whose workgroup
 * memory is slow; everything else a GPU class (`integrated` when the adapter's
 * type says so, else `discrete`), with the device's limits and subgroup size.
 */
import type { DeviceProfile } from "../../codegen/device";
import { deviceProfile } from "../../codegen/device";

/** What an adapter tells about itself (GPUAdapterInfo and GPUAdapter fields; all optional across implementations). */
export interface AdapterFacts {
  readonly vendor?: string;
  readonly architecture?: string;
  readonly device?: string;
  readonly description?: string;
  /** Dawn's `adapterType` ("discrete GPU", "integrated GPU", "CPU"), where exposed. */
  readonly type?: string;
  readonly isFallbackAdapter?: boolean;
  readonly subgroupMinSize?: number;
  readonly subgroupMaxSize?: number;
  readonly maxInvocationsPerWorkgroup?: number;
  readonly maxWorkgroupStorageBytes?: number;
  readonly maxStorageBuffersPerShaderStage?: number;
}

/** Names of WebGPU / Vulkan implementations that run on CPU cores (aot/host_runtime.ts has a copy: test/cli/device_class.test.ts). */
const CPU_IMPLEMENTATIONS = /swiftshader|llvmpipe|lavapipe|softpipe|\bwarp\b|microsoft basic render/i;

/**
 * The device profile of an adapter.
 * @example deviceProfileOfAdapter({ vendor: "google", architecture: "swiftshader" }).class // "cpu"
 */
export function deviceProfileOfAdapter(facts: AdapterFacts): DeviceProfile {
  const names = [facts.vendor, facts.architecture, facts.device, facts.description, facts.type].filter(Boolean);
  const cpu =
    facts.isFallbackAdapter === true ||
    /\bcpu\b/i.test(facts.type ?? "") ||
    names.some((n) => CPU_IMPLEMENTATIONS.test(n!));
  const cls = cpu ? "cpu" : /integrated/i.test(facts.type ?? "") ? "integrated" : "discrete";
  const subgroup =
    facts.subgroupMinSize !== undefined && facts.subgroupMinSize === facts.subgroupMaxSize
      ? facts.subgroupMinSize
      : undefined;
  return deviceProfile({
    class: cls,
    ...(subgroup !== undefined ? { subgroupSize: subgroup } : {}),
    ...(facts.maxInvocationsPerWorkgroup !== undefined
      ? { maxInvocationsPerWorkgroup: facts.maxInvocationsPerWorkgroup }
      : {}),
    ...(facts.maxWorkgroupStorageBytes !== undefined
      ? { maxWorkgroupStorageBytes: facts.maxWorkgroupStorageBytes }
      : {}),
    ...(facts.maxStorageBuffersPerShaderStage !== undefined
      ? { maxStorageBuffersPerShaderStage: facts.maxStorageBuffersPerShaderStage }
      : {}),
  });
}
