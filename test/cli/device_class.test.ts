/**
 * The device class an export was scheduled for: recorded in manifest.json (`deviceClass`, valid
 * against the schema: `cpu` with --device cpu, `generic` without), and compared by the generated
 * host module with the device it is created on (a CPU adapter vs a GPU: a warning by default,
 * an error or nothing on request; a device that does not describe itself is not judged).
 * The generated module runs on Dawn (SwiftShader, a CPU adapter).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import Ajv from "ajv";
import { afterAll, describe, expect, it, vi } from "vitest";
import { exportModel } from "../../aot/export";
import { parseDims } from "../../aot/dims";
import type { Manifest } from "../../aot/manifest";
import { checkDeviceClass, deviceRunsOnCpu, HostModuleError } from "../../aot/host_runtime";
import type { DeviceClass } from "../../codegen/device";
import { deviceProfileOfAdapter } from "../../backends/webgpu/device_profile";
import { webgpuForTests } from "../webgpu/test_device";
import { EXAMPLES, importModule, traceExample } from "./examples";
import { REPO } from "./run_cli";

const ctx = await webgpuForTests();
const m = EXAMPLES.find((e) => e.export === "hme")!;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Exports the small example for wgsl into a fresh directory, scheduled for `device`. */
async function exportFor(device: DeviceClass | undefined): Promise<{ out: string; manifest: Manifest }> {
  const files = exportModel(await traceExample(m), {
    name: "hme",
    targets: ["wgsl"],
    grad: false,
    dims: parseDims(m.dims),
    model: { file: m.file, export: m.export },
    ...(device ? { device } : {}),
  });
  const out = mkdtempSync(join(tmpdir(), "moeforge-device-class-"));
  dirs.push(out);
  for (const f of files) {
    mkdirSync(dirname(join(out, f.path)), { recursive: true });
    writeFileSync(join(out, f.path), f.content);
  }
  return { out, manifest: JSON.parse(readFileSync(join(out, "manifest.json"), "utf8")) as Manifest };
}

const SWIFTSHADER = { adapterInfo: { vendor: "google", architecture: "swiftshader" } as GPUAdapterInfo };
const NVIDIA = {
  adapterInfo: { vendor: "nvidia", architecture: "ampere", device: "", description: "" } as GPUAdapterInfo,
};

describe("device class of an export", () => {
  it("the manifest records it (schema-valid): cpu with --device cpu, generic without", async () => {
    const schema = JSON.parse(readFileSync(join(REPO, "aot/manifest.schema.json"), "utf8")) as object;
    const validate = new Ajv({ allErrors: true }).compile(schema);
    for (const [device, want] of [
      ["cpu", "cpu"],
      [undefined, "generic"],
    ] as const) {
      const { manifest } = await exportFor(device);
      expect(manifest.deviceClass).toBe(want);
      expect(validate(manifest), JSON.stringify(validate.errors)).toBe(true);
      expect(validate({ ...manifest, deviceClass: "tpu" })).toBe(false);
      const { deviceClass, ...without } = manifest;
      expect(deviceClass).toBeDefined();
      expect(validate(without)).toBe(false);
    }
  });

  it("host runtime: CPU adapter vs GPU schedules warn, error or pass as asked; same kind or no description passes", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    try {
      expect(deviceRunsOnCpu(SWIFTSHADER)).toBe(true);
      expect(deviceRunsOnCpu(NVIDIA)).toBe(false);
      expect(deviceRunsOnCpu({})).toBeUndefined();
      expect(checkDeviceClass(SWIFTSHADER, "cpu", "m")).toBeUndefined();
      expect(checkDeviceClass(NVIDIA, "generic", "m")).toBeUndefined();
      expect(checkDeviceClass(NVIDIA, "integrated", "m")).toBeUndefined();
      expect(checkDeviceClass({}, "cpu", "m")).toBeUndefined();
      expect(warn).not.toHaveBeenCalled();
      const msg = checkDeviceClass(SWIFTSHADER, "generic", "m");
      expect(msg).toMatch(/m: the kernels were scheduled for device class "generic", but this device is a CPU adapter/);
      expect(msg).toMatch(/--device cpu/);
      expect(warn).toHaveBeenCalledWith(msg);
      expect(() => checkDeviceClass(NVIDIA, "cpu", "m", "error")).toThrow(HostModuleError);
      expect(() => checkDeviceClass(NVIDIA, "cpu", "m", "error")).toThrow(
        /scheduled for device class "cpu", but this device is a GPU/,
      );
      warn.mockClear();
      expect(checkDeviceClass(NVIDIA, "cpu", "m", "ignore")).toMatch(/a GPU/);
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });

  it("the host runtime's CPU-adapter rule agrees with the schedule's device profile", () => {
    for (const [vendor, architecture] of [
      ["google", "swiftshader"],
      ["mesa", "llvmpipe"],
      ["microsoft", "warp"],
      ["nvidia", "ampere"],
      ["apple", "metal-3"],
      ["intel", "gen-12lp"],
    ])
      expect(deviceRunsOnCpu({ adapterInfo: { vendor, architecture } as GPUAdapterInfo }), vendor).toBe(
        deviceProfileOfAdapter({ vendor, architecture }).class === "cpu",
      );
  });

  it.runIf(ctx)(
    "the generated module on SwiftShader: a generic export warns (or throws), a cpu export does not",
    async () => {
      expect(deviceRunsOnCpu(ctx!.device as never)).toBe(true);
      const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
      try {
        const generic = await importModule((await exportFor(undefined)).out, "hme");
        const create = generic.createHme as (d: GPUDevice, o?: object) => { destroy(): void };
        expect(generic.DEVICE_CLASS).toBe("generic");
        expect(() => create(ctx!.device, { onDeviceClassMismatch: "error" })).toThrow(
          /scheduled for device class "generic"/,
        );
        create(ctx!.device).destroy();
        expect(warn).toHaveBeenCalledTimes(1);
        expect(String(warn.mock.calls[0]![0])).toMatch(/^hme: the kernels were scheduled for device class "generic"/);
        warn.mockClear();
        const cpu = await importModule((await exportFor("cpu")).out, "hme");
        expect(cpu.DEVICE_CLASS).toBe("cpu");
        (cpu.createHme as typeof create)(ctx!.device, { onDeviceClassMismatch: "error" }).destroy();
        expect(warn).not.toHaveBeenCalled();
      } finally {
        warn.mockRestore();
      }
    },
    300_000,
  );
});
