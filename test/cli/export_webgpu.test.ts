/**
 * The whole ahead-of-time flow on WebGPU in Node (Dawn; SwiftShader in CI):
 * each example compiles through the CLI (T dynamic, --grad), its generated
 * host module type-checks with `tsc --strict` and is bundled with esbuild
 * (nothing of moeforge in the bundle), and runs forward and backward at
 * T = 1, 7, 67 (no tile divides it) and 1024, with routing where all tokens
 * go to one expert (the other experts get none), on distinct non-zero
 * inputs: every output and gradient matches the interpreter. A Proxy around
 * the device counts mapAsync calls: none during forward and backward.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parsePath } from "../../aot/paths";
import { webgpuForTests } from "../webgpu/test_device";
import {
  EXAMPLES,
  caseInputs,
  compileExample,
  importModule,
  relativeError,
  routedExperts,
  traceExample,
  bundleModule,
  type ExampleModel,
  type Scenario,
} from "./examples";
import { interpreterForwardBackward } from "./oracle";
import { REPO } from "./run_cli";

interface HostModel {
  forward(
    inputs: unknown,
    dims: Record<string, number>,
    options?: { encoder?: GPUCommandEncoder },
  ): { outputs: unknown; saved: { destroy(): void } };
  backward(inputs: unknown, saved: unknown, cotangent: unknown, options?: { encoder?: GPUCommandEncoder }): unknown;
  destroy(): void;
}
type ReadBuffer = (device: GPUDevice, buffer: GPUBuffer, type: "f32", length: number) => Promise<Float32Array>;

/** Builds the nested object of `paths` with `values` at the leaves. */
function nest(paths: readonly string[], values: readonly unknown[]): Record<string, unknown> {
  const root: Record<string | number, unknown> = {};
  paths.forEach((p, i) => {
    const segs = parsePath(p);
    let node = root;
    segs.forEach((s, j) => {
      if (j === segs.length - 1) node[s] = values[i];
      else node = (node[s] ??= typeof segs[j + 1] === "number" ? [] : {}) as Record<string | number, unknown>;
    });
  });
  return root;
}
const at = (tree: unknown, path: string): unknown =>
  parsePath(path).reduce<unknown>((node, s) => (node as Record<string | number, unknown>)[s], tree);

/** The device behind a Proxy that counts mapAsync calls on every buffer it creates. */
function countingDevice(device: GPUDevice): { device: GPUDevice; mapAsyncCalls: () => number } {
  let calls = 0;
  const proxy = new Proxy(device, {
    get(target, prop) {
      if (prop === "createBuffer") {
        return (descriptor: GPUBufferDescriptor) => {
          const buffer = target.createBuffer(descriptor);
          const mapAsync = buffer.mapAsync.bind(buffer);
          Object.defineProperty(buffer, "mapAsync", {
            value: (...args: Parameters<GPUBuffer["mapAsync"]>) => {
              calls++;
              return mapAsync(...args);
            },
          });
          return buffer;
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { device: proxy, mapAsyncCalls: () => calls };
}

const ctx = await webgpuForTests();
const outs = new Map<string, string>();

describe.runIf(ctx)("exported host modules on WebGPU (Node, Dawn)", () => {
  beforeAll(async () => {
    for (const m of EXAMPLES) outs.set(m.export, await compileExample(m, "wgsl"));
  }, 240_000);
  afterAll(() => {
    for (const dir of outs.values()) rmSync(dir, { recursive: true, force: true });
  });

  it("every generated module type-checks with tsc --strict (only the WebGPU types, no moeforge)", () => {
    const files = EXAMPLES.map((m) => join(outs.get(m.export)!, `${m.export}.ts`));
    const config = join(outs.get(EXAMPLES[0]!.export)!, "tsconfig.json");
    writeFileSync(
      config,
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: "es2022",
          module: "esnext",
          moduleResolution: "bundler",
          lib: ["es2022", "dom"],
          types: [],
          noUncheckedIndexedAccess: true,
          exactOptionalPropertyTypes: true,
          noImplicitOverride: true,
        },
        files: [...files, join(REPO, "node_modules/@webgpu/types/dist/index.d.ts")],
      }),
    );
    const r = spawnSync(process.execPath, [join(REPO, "node_modules/typescript/bin/tsc"), "-p", config], {
      encoding: "utf8",
    });
    expect(r.stdout + r.stderr, "tsc --strict on the generated modules").toBe("");
    expect(r.status).toBe(0);
  }, 120_000);

  it("the bundled module contains nothing from moeforge", async () => {
    for (const m of EXAMPLES) {
      const { inputs } = await bundleModule(join(outs.get(m.export)!, `${m.export}.ts`), "browser");
      expect(inputs, m.export).toHaveLength(1);
      expect(inputs[0]).toMatch(new RegExp(`${m.export}\\.ts$`));
    }
  });

  const cases: [ExampleModel, number, Scenario][] = EXAMPLES.flatMap((m) => [
    [m, 1, "random"],
    [m, 7, "random"],
    [m, 67, "random"],
    // 1024 tokens on every model: SwiftShader runs the largest (mixtral's ~220 launches) in a few seconds.
    [m, 1024, "random"],
    ...(m.router
      ? ([
          [m, 7, "oneExpert"],
          [m, 67, "oneExpert"],
        ] as [ExampleModel, number, Scenario][])
      : []),
  ]);

  it.each(cases.map(([m, T, s]) => [`${m.export} T=${T} ${s}`, m, T, s] as const))(
    "%s: forward and backward match the interpreter, with no readback",
    async (_, m, T, scenario) => {
      const device = ctx!.device;
      const out = outs.get(m.export)!;
      const mod = await importModule(out, m.export);
      const create = mod[`create${m.export[0]!.toUpperCase()}${m.export.slice(1)}`] as (d: GPUDevice) => HostModel;
      const readBuffer = mod.readBuffer as ReadBuffer;
      const traced = await traceExample(m);
      const { shapes, data, cotangents } = caseInputs(m, traced, T, scenario, 17 * T + 3);
      const paths = traced.inputs.leaves.map((l) => l.path);
      if (scenario === "oneExpert") {
        const xi = paths.indexOf("x");
        const ri = paths.indexOf(m.router!.path);
        const [D, E] = shapes[ri]! as [number, number];
        expect([...routedExperts(data[xi]!, data[ri]!, D, E, m.router!.k)].sort()).toEqual(
          Array.from({ length: m.router!.k }, (_, i) => i),
        );
      }
      const counting = countingDevice(device);
      const model = create(counting.device);
      // T = 7: the caller's GPUBuffers and the caller's encoder; otherwise host arrays and the module's encoder.
      const useBuffers = T === 7;
      const upload = (a: Float32Array) => {
        const b = device.createBuffer({ size: Math.max(16, a.byteLength), usage: 128 | 4 | 8 });
        device.queue.writeBuffer(b, 0, a as Float32Array<ArrayBuffer>);
        return b;
      };
      const inputs = nest(paths, useBuffers ? data.map(upload) : data);
      const cotangent = nest(
        traced.outputs.map((o) => o.path),
        cotangents.map((c) => c.data),
      );
      const encoder = useBuffers ? device.createCommandEncoder() : undefined;
      const options = encoder ? { encoder } : {};
      const { outputs, saved } = model.forward(inputs, { T }, options);
      const grads = model.backward(inputs, saved, cotangent, options);
      if (encoder) device.queue.submit([encoder.finish()]);
      expect(counting.mapAsyncCalls(), "mapAsync calls during forward and backward").toBe(0);

      const want = interpreterForwardBackward(
        traced.program,
        shapes.map((shape, i) => ({ shape, data: data[i]! })),
        cotangents,
      );
      for (const [i, o] of traced.outputs.entries()) {
        const got = await readBuffer(device, at(outputs, o.path) as GPUBuffer, "f32", want.outputs[i]!.length);
        expect(relativeError(got, want.outputs[i]!), `output ${o.path}`).toBeLessThan(1e-4);
      }
      for (const [i, l] of traced.inputs.leaves.entries()) {
        const got = await readBuffer(device, at(grads, l.path) as GPUBuffer, "f32", want.gradients[i]!.length);
        expect(relativeError(got, want.gradients[i]!), `gradient ${l.path}`).toBeLessThan(1e-4);
      }
      // The counter sees reads: the module's own readBuffer maps through the proxy.
      await readBuffer(counting.device, at(outputs, traced.outputs[0]!.path) as GPUBuffer, "f32", 1);
      expect(counting.mapAsyncCalls()).toBe(1);
      saved.destroy();
      model.destroy();
    },
    240_000,
  );

  it("the module checks the manifest hash, the dims and its inputs before launching", async () => {
    const m = EXAMPLES[0]!;
    const out = outs.get(m.export)!;
    const mod = await importModule(out, m.export);
    const create = mod.createSwitchLayer as (d: GPUDevice, o?: { manifestHash?: string }) => HostModel;
    const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8")) as { contentHash: string };
    expect(() => create(ctx!.device, { manifestHash: "sha256:0" })).toThrow(
      /manifest's content hash is sha256:0, but this module was generated from sha256:/,
    );
    const model = create(ctx!.device, { manifestHash: manifest.contentHash });
    const traced = await traceExample(m);
    const { data } = caseInputs(m, traced, 3, "random", 1);
    const inputs = nest(
      traced.inputs.leaves.map((l) => l.path),
      data,
    );
    expect(() => model.forward(inputs, { T: 0 })).toThrow(/dim T = 0; it must be an integer in 1\.\.\d+/);
    expect(() => model.forward(inputs, { T: 2.5 })).toThrow(/dim T = 2\.5/);
    expect(() => model.forward(inputs, {})).toThrow(/dim T is not given/);
    expect(() => model.forward(inputs, { T: 4 })).toThrow(
      /input params\.router is a Float32Array of 32 elements|input x is a Float32Array of 24 elements; expected a Float32Array of 32/,
    );
    model.destroy();
  });
});
