/**
 * WebGPU device acquisition: the browser's `navigator.gpu`, or in Node the npm
 * package `webgpu` (Dawn). Device creation is asynchronous, so the backend
 * needs one `await initWebGPU()` before `jit(fn, { backend: "webgpu" })` or
 * `setBackend("webgpu")`; everything after that (compiling, launching) is
 * synchronous and only reading results (`await t.data()`) waits.
 */
import { deviceProfile, type DeviceProfile, type DeviceSpec } from "../../codegen/device";
import { deviceProfileOfAdapter, type AdapterFacts } from "./device_profile";

/** What the runtime knows about the device it runs on. */
export interface WebGPUContext {
  readonly device: GPUDevice;
  /**
   * The GPU instance and adapter the device came from. Held so they live as long
   * as the device: in Node, Dawn crashes (futex / mutex errors in its worker
   * threads) when the instance is garbage-collected while its device is in use.
   */
  readonly keepAlive: readonly unknown[];
  /** e.g. "google swiftshader" (vendor and architecture from the adapter). */
  readonly adapterName: string;
  /** The adapter's key in the tuning file (`adapterKey` in tuning.ts), when the adapter describes itself. */
  readonly adapterKey?: string;
  /**
   * The device class and profile the schedule compiles for (SwiftShader and other
   * CPU adapters: `cpu`, barrier-free register tiles), from the adapter's info.
   */
  readonly deviceProfile: DeviceProfile;
  /** Whether the device has `shader-f16` (f16 kernels need it). */
  readonly hasF16: boolean;
  /** Whether the device can time passes (`timestamp-query`), used by `profileOnWebGPU`. */
  readonly hasTimestamps: boolean;
  /** Bytes one storage binding may cover (larger buffers are split into chunks). */
  readonly maxBindingBytes: number;
  readonly maxWorkgroupsPerDimension: number;
  readonly maxStorageBuffersPerStage: number;
  readonly maxWorkgroupStorageBytes: number;
  readonly maxInvocationsPerWorkgroup: number;
  readonly minUniformOffsetAlignment: number;
  /** Set once the device is lost: why. */
  lostReason?: string;
  /** Errors no error scope caught (reported with the next read). */
  readonly uncaptured: string[];
}

export interface WebGPUInitOptions {
  /** Use this device (e.g. your application's) instead of requesting one. */
  readonly device?: GPUDevice;
  readonly powerPreference?: GPUPowerPreference;
  /**
   * Cap the bytes per storage binding below the device's limit. Buffers over
   * the cap are bound as several chunks; tests lower it to exercise that path
   * with small data.
   */
  readonly maxBindingBytes?: number;
  /**
   * Schedule kernels for this device class or profile instead of the one derived
   * from the adapter's info (e.g. `"discrete"` to run the shared-memory schedule
   * on SwiftShader).
   */
  readonly deviceClass?: DeviceSpec;
}

/** What an adapter says about itself (GPUAdapterInfo's fields that identify it). */
export interface AdapterDescription {
  readonly vendor?: string;
  readonly architecture?: string;
  readonly device?: string;
  readonly description?: string;
}

/**
 * The key of an adapter in the tuning file (backends/webgpu/tuning.ts): vendor / architecture / device / driver.
 * @example adapterKey(adapter.info) // "google/swiftshader/swiftshader-device-subzero-/SwiftShader driver 5.0.0"
 */
export function adapterKey(info: AdapterDescription): string {
  return [info.vendor, info.architecture, info.device, info.description].map((s) => s ?? "").join("/");
}

let current: WebGPUContext | undefined;
let pending: Promise<WebGPUContext> | undefined;

const INSTALL_HINT =
  "on Linux without a GPU, WebGPU runs on the CPU through SwiftShader: `apt-get install chromium libvulkan1` " +
  "and set VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (scripts/setup.sh and scripts/test.sh do both)";

/** Why no adapter was found, with what to do about it. */
function noAdapterMessage(where: "browser" | "node", detail?: string): string {
  if (where === "browser") {
    return (
      "webgpu backend: navigator.gpu.requestAdapter() returned no adapter; " +
      "enable WebGPU in this browser (Chromium: --enable-unsafe-webgpu) and serve the page from https or http://localhost"
    );
  }
  const icd = typeof process !== "undefined" ? process.env.VK_ICD_FILENAMES : undefined;
  const icdNote = icd ? ` (VK_ICD_FILENAMES=${icd})` : " (VK_ICD_FILENAMES is not set)";
  return `webgpu backend: Dawn (npm package "webgpu") found no GPU adapter${icdNote}${detail ? `: ${detail}` : ""}; ${INSTALL_HINT}`;
}

async function requestNodeGPU(): Promise<GPU> {
  // A variable specifier keeps browser bundlers from trying to bundle Dawn's native addon.
  const specifier = "webgpu";
  let mod: { create(options: string[]): GPU };
  try {
    mod = (await import(/* @vite-ignore */ specifier)) as typeof mod;
  } catch (e) {
    throw new Error(
      `webgpu backend: cannot load the npm package "webgpu" (Dawn for Node): ${(e as Error).message}; install it with \`npm i webgpu\``,
      { cause: e },
    );
  }
  return mod.create([]);
}

interface Acquired {
  readonly device: GPUDevice;
  readonly adapterName: string;
  readonly adapterKey?: string;
  readonly facts: AdapterFacts;
  readonly keepAlive: readonly unknown[];
}

async function acquireDevice(options: WebGPUInitOptions): Promise<Acquired> {
  if (options.device) {
    // GPUDevice.adapterInfo (newer implementations) says which adapter a given device came from.
    const info = (options.device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    return {
      device: options.device,
      adapterName: "device given to initWebGPU",
      ...(info?.vendor || info?.architecture ? { adapterKey: adapterKey(info) } : {}),
      facts: adapterFacts(info),
      keepAlive: [],
    };
  }
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  const inBrowser = typeof nav?.gpu !== "undefined";
  const gpu = inBrowser ? nav!.gpu! : await requestNodeGPU();
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference });
  if (!adapter) throw new Error(noAdapterMessage(inBrowser ? "browser" : "node"));
  const lim = adapter.limits;
  // Ask for the adapter's own limits: the defaults are far below what GPUs (and SwiftShader) offer.
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
    maxBufferSize: lim.maxBufferSize,
    maxStorageBuffersPerShaderStage: lim.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupStorageSize: lim.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: lim.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: lim.maxComputeWorkgroupSizeX,
  };
  const requiredFeatures = (["shader-f16", "timestamp-query"] as const).filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const info = adapter.info;
  const adapterName = [info?.vendor, info?.architecture, info?.device].filter((s) => s).join(" ") || "unknown adapter";
  const fallback = (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  return {
    device,
    adapterName,
    adapterKey: adapterKey(info),
    facts: adapterFacts(info, fallback),
    keepAlive: [gpu, adapter],
  };
}

/** The adapter's self-description, as far as this implementation exposes it. */
function adapterFacts(info: GPUAdapterInfo | undefined, isFallbackAdapter?: boolean): AdapterFacts {
  const i = (info ?? {}) as Partial<GPUAdapterInfo> & {
    type?: string;
    isFallbackAdapter?: boolean;
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
  };
  const fallback = i.isFallbackAdapter ?? isFallbackAdapter;
  return {
    ...(i.vendor ? { vendor: i.vendor } : {}),
    ...(i.architecture ? { architecture: i.architecture } : {}),
    ...(i.device ? { device: i.device } : {}),
    ...(i.description ? { description: i.description } : {}),
    ...(i.type ? { type: i.type } : {}),
    ...(fallback !== undefined ? { isFallbackAdapter: fallback } : {}),
    ...(i.subgroupMinSize ? { subgroupMinSize: i.subgroupMinSize } : {}),
    ...(i.subgroupMaxSize ? { subgroupMaxSize: i.subgroupMaxSize } : {}),
  };
}

function makeContext(
  { device, adapterName, adapterKey, facts, keepAlive }: Acquired,
  options: WebGPUInitOptions,
): WebGPUContext {
  const lim = device.limits;
  const deviceBinding = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
  const cap = options.maxBindingBytes ?? deviceBinding;
  if (!Number.isInteger(cap) || cap < 16)
    throw new RangeError(`initWebGPU: maxBindingBytes = ${cap} must be an integer >= 16`);
  const ctx: WebGPUContext = {
    device,
    keepAlive,
    adapterName,
    ...(adapterKey ? { adapterKey } : {}),
    deviceProfile: options.deviceClass
      ? deviceProfile(options.deviceClass)
      : deviceProfileOfAdapter({
          ...facts,
          maxInvocationsPerWorkgroup: Math.min(lim.maxComputeInvocationsPerWorkgroup, lim.maxComputeWorkgroupSizeX),
          maxWorkgroupStorageBytes: lim.maxComputeWorkgroupStorageSize,
          maxStorageBuffersPerShaderStage: lim.maxStorageBuffersPerShaderStage,
        }),
    hasF16: device.features.has("shader-f16"),
    hasTimestamps: device.features.has("timestamp-query"),
    maxBindingBytes: Math.floor(Math.min(cap, deviceBinding) / 16) * 16,
    maxWorkgroupsPerDimension: lim.maxComputeWorkgroupsPerDimension,
    maxStorageBuffersPerStage: lim.maxStorageBuffersPerShaderStage,
    maxWorkgroupStorageBytes: lim.maxComputeWorkgroupStorageSize,
    maxInvocationsPerWorkgroup: Math.min(lim.maxComputeInvocationsPerWorkgroup, lim.maxComputeWorkgroupSizeX),
    minUniformOffsetAlignment: lim.minUniformBufferOffsetAlignment,
    uncaptured: [],
  };
  void device.lost.then((info) => {
    ctx.lostReason = `${info.reason ?? "unknown"}: ${info.message || "no message"}`;
  });
  device.addEventListener("uncapturederror", (ev) => {
    ctx.uncaptured.push((ev as GPUUncapturedErrorEvent).error.message);
  });
  return ctx;
}

/**
 * A new, independent WebGPU context (device + limits), not made the backend's
 * default. Useful to run with different options side by side (tests).
 * @example const ctx = await createWebGPUContext({ maxBindingBytes: 1024 });
 */
export async function createWebGPUContext(options: WebGPUInitOptions = {}): Promise<WebGPUContext> {
  return makeContext(await acquireDevice(options), options);
}

/**
 * Acquires a WebGPU device once and makes the `webgpu` backend available
 * (later calls return the same context while its device is alive; options
 * apply to the first call, or replace the context when given again).
 * Throws a clear error when there is no adapter, saying how to install one.
 * @example
 * import { initWebGPU, jit, tensor } from "moeforge";
 * await initWebGPU();
 * const f = jit((x) => x.mul(2).exp(), { backend: "webgpu" });
 * console.log(await f(tensor([1, 2, 3])).data());
 */
export async function initWebGPU(options: WebGPUInitOptions = {}): Promise<WebGPUContext> {
  const fresh =
    options.device !== undefined ||
    options.maxBindingBytes !== undefined ||
    options.powerPreference !== undefined ||
    options.deviceClass !== undefined;
  if (current && !current.lostReason && !fresh) return current;
  if (pending && !fresh) return pending;
  const attempt = createWebGPUContext(options).then((ctx) => (current = ctx));
  pending = attempt;
  try {
    return await attempt;
  } finally {
    if (pending === attempt) pending = undefined;
  }
}

/** `true` when the backend can run now, else a sentence saying why not and what to do. */
export function webgpuAvailability(): true | string {
  if (!current)
    return "no WebGPU device yet; call `await initWebGPU()` once before using the webgpu backend (device creation is asynchronous)";
  if (current.lostReason)
    return `the WebGPU device was lost (${current.lostReason}); call \`await initWebGPU()\` again for a new device`;
  return true;
}

/** The live context; throws the availability message when there is none. */
export function requireWebGPU(): WebGPUContext {
  const ok = webgpuAvailability();
  if (ok !== true) throw new Error(`webgpu backend: ${ok}`);
  return current!;
}
