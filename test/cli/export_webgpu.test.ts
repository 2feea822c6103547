/**
 * The whole ahead-of-time flow on WebGPU in Node (Dawn; SwiftShader in CI):
 * each example compiles through the CLI (T dynamic, --grad), its generated
 * host module type-checks with `tsc --strict` and is bundled with esbuild
 * (nothing of moeforge in the bundle), and runs forward and backward at
 * T = 1, 7, 67 (no tile divides it) and 1024, with routing where all tokens
 * go to one expert (the other experts get none), on distinct non-zero
 * inputs: every output and gradient matches the interpreter. A Proxy around
 * the device counts mapAsync calls: none during forward and backward. Also:
 * weights bound by name from safetensors (--params), a dim that must be a
 * multiple of a group size (--dims T=dynamic:%4), and the same module in
 * headless Chromium giving the Node run's values.
 *
 * One file, one Dawn device: pipelines compile once per kernel source
 * (SwiftShader's shader compiles are most of this suite's time; Dawn reuses a
 * pipeline of the same source while it is alive, so the models made here are
 * kept), and the examples' exports are shared with the other CLI tests
 * (`sharedExport`).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parsePath } from "../../aot/paths";
import { saveSafetensors, tensor } from "../../index";
import { webgpuForTests } from "../webgpu/test_device";
import {
  EXAMPLES,
  caseInputs,
  compileExample,
  importModule,
  relativeError,
  routedExperts,
  sharedExport,
  traceExample,
  bundleModule,
  type CaseInputs,
  type ExampleModel,
  type Scenario,
} from "./examples";
import type { TracedModel } from "../../aot/export";
import { interpreterForwardBackward } from "./oracle";
import { runHarness, type HarnessJob, type HostModule } from "./page_harness";
import { chromiumAvailable, servePage, type PageServer } from "../helpers/chromium_page";
import { REPO } from "./run_cli";

interface HostModel {
  forward(
    inputs: unknown,
    dims: Record<string, number>,
    options?: { encoder?: GPUCommandEncoder },
  ): { outputs: unknown; saved: { destroy(): void } };
  backward(inputs: unknown, saved: unknown, cotangent: unknown, options?: { encoder?: GPUCommandEncoder }): unknown;
  destroy(): void;
  readonly weights?: unknown;
}
type ReadBuffer = (device: GPUDevice, buffer: GPUBuffer, type: "f32", length: number) => Promise<Float32Array>;
type Create = (device: GPUDevice, options?: { manifestHash?: string; weights?: Uint8Array }) => HostModel;
type CreateAsync = (...args: Parameters<Create>) => Promise<HostModel>;

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

const createName = (name: string) => `create${name[0]!.toUpperCase()}${name.slice(1)}`;
/** The create that compiles the pipelines concurrently (the sync one is tested by the manifest and weights cases). */
const createAsyncName = (name: string) => `${createName(name)}Async`;

/**
 * Runs `model` forward and backward on `inputs` (minus the inputs in `bound`,
 * which the model holds) and checks every output and gradient against the
 * interpreter, and that nothing was read back meanwhile.
 */
async function expectMatchesInterpreter(
  ctxDevice: GPUDevice,
  create: (device: GPUDevice) => HostModel | Promise<HostModel>,
  readBuffer: ReadBuffer,
  traced: TracedModel,
  T: number,
  { shapes, data, cotangents }: CaseInputs,
  options: { useBuffers?: boolean; bound?: ReadonlySet<string> } = {},
): Promise<void> {
  const device = ctxDevice;
  const counting = countingDevice(device);
  const model = await create(counting.device);
  const paths = traced.inputs.leaves.map((l) => l.path);
  const given = paths.flatMap((p, i) => (options.bound?.has(p) ? [] : [i]));
  const upload = (a: Float32Array) => {
    const b = device.createBuffer({ size: Math.max(16, a.byteLength), usage: 128 | 4 | 8 });
    device.queue.writeBuffer(b, 0, a as Float32Array<ArrayBuffer>);
    return b;
  };
  const inputs = nest(
    given.map((i) => paths[i]!),
    given.map((i) => (options.useBuffers ? upload(data[i]!) : data[i]!)),
  );
  const cotangent = nest(
    traced.outputs.map((o) => o.path),
    cotangents.map((c) => c.data),
  );
  const encoder = options.useBuffers ? device.createCommandEncoder() : undefined;
  const call = encoder ? { encoder } : {};
  const { outputs, saved } = model.forward(inputs, { T }, call);
  const grads = model.backward(inputs, saved, cotangent, call);
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
  keepAlive.push(model);
}

/** Every model made (buffers destroyed): their pipelines stay alive, so later creates of the same sources hit Dawn's cache. */
const keepAlive: unknown[] = [];
const modules = new Map<string, Promise<Record<string, unknown>>>();
/** The generated module of `name` in `out`, imported once. */
function hostModule(out: string, name: string): Promise<Record<string, unknown>> {
  const key = join(out, name);
  if (!modules.has(key)) modules.set(key, importModule(out, name));
  return modules.get(key)!;
}

/** A model whose token count must be a multiple of its group size (4). */
const GROUPED: ExampleModel = {
  file: "test/cli/fixtures/token_groups.ts",
  export: "grouped",
  dims: "T=dynamic:%4,D=8,O=4",
};

const ctx = await webgpuForTests();
const outs = new Map<string, string>();
const scratch = mkdtempSync(join(tmpdir(), "moeforge-cli-webgpu-"));
/** The Switch layer exported with --params (weights from a safetensors file) and the inputs the file was made from. */
let weighted: { out: string; file: string; inputs: CaseInputs; traced: TracedModel } | undefined;
const WEIGHTED_T = 33;

describe.runIf(ctx)("exported host modules on WebGPU (Node, Dawn)", () => {
  beforeAll(async () => {
    for (const m of EXAMPLES) outs.set(m.export, await sharedExport(m));
    outs.set(GROUPED.export, await compileExample(GROUPED, "wgsl"));
    // The Switch layer's weights as a safetensors file, as saveSafetensors(params) writes them.
    const m = EXAMPLES[0]!;
    const traced = await traceExample(m);
    const inputs = caseInputs(m, traced, WEIGHTED_T, "random", 99);
    const params = Object.fromEntries(
      traced.inputs.leaves.flatMap((l, i) =>
        l.path.startsWith("params.") ? [[l.path.slice(7), tensor(inputs.data[i]!, inputs.shapes[i]!)]] : [],
      ),
    );
    const file = join(scratch, "switch.safetensors");
    writeFileSync(file, saveSafetensors(params));
    weighted = {
      out: await compileExample(m, "wgsl", ["--params", file, "--name", "switchWeighted"]),
      file,
      inputs,
      traced,
    };
  }, 600_000);
  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
    rmSync(outs.get(GROUPED.export)!, { recursive: true, force: true });
    if (weighted) rmSync(weighted.out, { recursive: true, force: true });
  });

  it("every generated module type-checks with tsc --strict (only the WebGPU types, no moeforge)", () => {
    const files = [
      ...[...outs].map(([name, dir]) => join(dir, `${name}.ts`)),
      join(weighted!.out, "switchWeighted.ts"),
    ];
    const config = join(scratch, "tsconfig.json");
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
  });

  it("the bundled module contains nothing from moeforge", async () => {
    for (const [name, dir] of outs) {
      const { inputs } = await bundleModule(join(dir, `${name}.ts`), "browser");
      expect(inputs, name).toHaveLength(1);
      expect(inputs[0]).toMatch(new RegExp(`${name}\\.ts$`));
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
      const mod = await hostModule(outs.get(m.export)!, m.export);
      const traced = await traceExample(m);
      const inputs = caseInputs(m, traced, T, scenario, 17 * T + 3);
      if (scenario === "oneExpert") {
        const paths = traced.inputs.leaves.map((l) => l.path);
        const xi = paths.indexOf("x");
        const ri = paths.indexOf(m.router!.path);
        const [D, E] = inputs.shapes[ri]! as [number, number];
        expect([...routedExperts(inputs.data[xi]!, inputs.data[ri]!, D, E, m.router!.k)].sort()).toEqual(
          Array.from({ length: m.router!.k }, (_, i) => i),
        );
      }
      // T = 7: the caller's GPUBuffers and the caller's encoder; otherwise host arrays and the module's encoder.
      await expectMatchesInterpreter(
        ctx!.device,
        mod[createAsyncName(m.export)] as CreateAsync,
        mod.readBuffer as ReadBuffer,
        traced,
        T,
        inputs,
        { useBuffers: T === 7 },
      );
    },
    600_000,
  );

  it("the module checks the manifest hash, the dims and its inputs before launching", async () => {
    const m = EXAMPLES[0]!;
    const out = outs.get(m.export)!;
    const mod = await hostModule(out, m.export);
    const create = mod.createSwitchLayer as Create;
    const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8")) as { contentHash: string };
    expect(() => create(ctx!.device, { manifestHash: "sha256:0" })).toThrow(
      /manifest's content hash is sha256:0, but this module was generated from sha256:/,
    );
    const createAsync = mod.createSwitchLayerAsync as CreateAsync;
    await expect(createAsync(ctx!.device, { manifestHash: "sha256:0" })).rejects.toThrow(
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
    keepAlive.push(model);
  });

  it("--params: weights bound by name from a safetensors buffer; forward and backward match the interpreter", async () => {
    const { out, file, inputs, traced } = weighted!;
    const mod = await hostModule(out, "switchWeighted");
    const create = mod.createSwitchWeighted as Create;
    const readBuffer = mod.readBuffer as ReadBuffer;
    const bytes = readFileSync(file);
    const bound = new Set(traced.inputs.leaves.filter((l) => l.path.startsWith("params.")).map((l) => l.path));
    await expectMatchesInterpreter(
      ctx!.device,
      (d) => create(d, { weights: bytes }),
      readBuffer,
      traced,
      WEIGHTED_T,
      inputs,
      {
        bound,
      },
    );
    // The module's weight buffers hold the file's values, by name.
    const model = create(ctx!.device, { weights: bytes });
    const w1 = traced.inputs.leaves.findIndex((l) => l.path === "params.w1");
    const got = await readBuffer(
      ctx!.device,
      at(model.weights, "params.w1") as GPUBuffer,
      "f32",
      inputs.data[w1]!.length,
    );
    expect(Array.from(got)).toEqual(Array.from(inputs.data[w1]!));
    model.destroy();
    keepAlive.push(model);
    // A buffer with another shape for one tensor is refused before anything is uploaded.
    const wrong = saveSafetensors({
      router: tensor(inputs.data[0]!.slice(0, 8), [2, 4]),
      w1: tensor(inputs.data[1]!, inputs.shapes[1]!),
      w2: tensor(inputs.data[2]!, inputs.shapes[2]!),
    });
    expect(() => create(ctx!.device, { weights: wrong })).toThrow(
      /switchWeighted: weight "router" is F32\[2, 4\]; input params\.router needs F32\[8, 4\]/,
    );
    expect(() => create(ctx!.device, { weights: saveSafetensors({ w1: tensor([1], [1]) }) })).toThrow(
      /the weights have no tensor "router" \(input params\.router, F32\[8, 4\]\); they have w1/,
    );
  });

  it.each([4, 12, 1024])(
    "a T that must be a multiple of the group size 4: T=%i matches the interpreter",
    async (T) => {
      const mod = await hostModule(outs.get(GROUPED.export)!, GROUPED.export);
      const traced = await traceExample(GROUPED);
      await expectMatchesInterpreter(
        ctx!.device,
        mod.createGroupedAsync as CreateAsync,
        mod.readBuffer as ReadBuffer,
        traced,
        T,
        caseInputs(GROUPED, traced, T, "random", T),
      );
    },
    600_000,
  );

  it("a T that is not a multiple of the group size is refused before launching", async () => {
    const mod = await hostModule(outs.get(GROUPED.export)!, GROUPED.export);
    const model = (mod.createGrouped as Create)(ctx!.device);
    const x = new Float32Array(6 * 8);
    expect(() => model.forward({ x, params: { w: new Float32Array(32) } }, { T: 6 })).toThrow(
      /grouped: dim T = 6; it must be a multiple of 4 .*pad to 8/,
    );
    expect(() => model.forward({ x, params: { w: new Float32Array(32) } }, { T: 0 })).toThrow(
      /dim T = 0; it must be an integer in 4\.\.\d+/,
    );
    model.destroy();
    keepAlive.push(model);
  });
});

const haveChromium = ctx !== undefined && chromiumAvailable("the headless-Chromium export test");

describe.runIf(haveChromium)("an exported host module in headless Chromium", () => {
  let server: PageServer | undefined;
  afterAll(async () => server?.close());

  // The mixture of local experts: the smallest example (Chromium compiles its pipelines anew).
  it("runs forward and backward with the same values as in Node, and the interpreter's", async () => {
    const m = EXAMPLES[3]!;
    const out = await sharedExport(m);
    const traced = await traceExample(m);
    const T = 7;
    const { shapes, data, cotangents } = caseInputs(m, traced, T, "random", 5);
    const job: HarnessJob = {
      T,
      inputs: traced.inputs.leaves.map((l, i) => [l.path, Array.from(data[i]!)] as const),
      cotangents: traced.outputs.map((o, i) => [o.path, Array.from(cotangents[i]!.data)] as const),
      outputs: traced.outputs.map((o, i) => [o.path, cotangents[i]!.data.length] as const),
      gradients: traced.inputs.leaves.map((l, i) => [l.path, data[i]!.length] as const),
    };
    // The page: the generated module and the harness, bundled for the browser.
    const page = await build({
      stdin: {
        contents: `import { ${createAsyncName(m.export)} as create, readBuffer } from ${JSON.stringify(join(out, `${m.export}.ts`))};
import { runHarness } from ${JSON.stringify(new URL("./page_harness.ts", import.meta.url).pathname)};
globalThis.runJob = async (job) => {
  const adapter = await navigator.gpu.requestAdapter();
  const device = await adapter.requestDevice();
  return runHarness({ create, readBuffer }, device, job);
};`,
        resolveDir: out,
        loader: "ts",
      },
      bundle: true,
      format: "esm",
      platform: "browser",
      write: false,
      metafile: true,
      logLevel: "silent",
    });
    const bundled = Object.keys(page.metafile.inputs);
    expect(bundled.filter((f) => !f.endsWith("page_harness.ts") && f !== "<stdin>")).toEqual([
      expect.stringMatching(new RegExp(`${m.export}\\.ts$`)),
    ]);
    server = await servePage(page.outputFiles[0]!.text, { readyGlobal: "runJob" });
    const tab = server.page;
    const inBrowser = await tab.evaluate(
      (j) => (globalThis as unknown as { runJob(j: unknown): Promise<Record<string, number[]>> }).runJob(j),
      job,
    );
    expect(server.errors).toEqual([]);

    const mod = await hostModule(out, m.export);
    const inNode = await runHarness(
      {
        create: mod[createAsyncName(m.export)] as HostModule["create"],
        readBuffer: mod.readBuffer as HostModule["readBuffer"],
      },
      ctx!.device,
      job,
    );
    expect(Object.keys(inBrowser).sort()).toEqual(Object.keys(inNode).sort());
    for (const k of Object.keys(inNode)) expect(inBrowser[k], k).toEqual(inNode[k]);

    const want = interpreterForwardBackward(
      traced.program,
      shapes.map((shape, i) => ({ shape, data: data[i]! })),
      cotangents,
    );
    traced.outputs.forEach((o, i) =>
      expect(relativeError(inBrowser[`output ${o.path}`]!, want.outputs[i]!), o.path).toBeLessThan(1e-4),
    );
    traced.inputs.leaves.forEach((l, i) =>
      expect(relativeError(inBrowser[`gradient ${l.path}`]!, want.gradients[i]!), l.path).toBeLessThan(1e-4),
    );
  }, 600_000);
});
