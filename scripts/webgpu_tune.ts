/**
 * `npm run webgpu:tune`: times schedule candidates (backends/webgpu/tune.ts)
 * on the present WebGPU adapter (Dawn in Node; SwiftShader without a GPU) on
 * the benchmark programs: an n^3 matmul and the peers' MoE layer
 * (bench/peer_layer.ts) forward and forward+backward. Every candidate's
 * outputs are checked against the interpreter; one row per candidate, then
 * the choice (the fastest candidate of each kind, knobs merged). `--save` stores
 * the choice's knobs for this adapter in the tuning file the webgpu backend
 * reads (backends/webgpu/tuning.ts).
 *
 * Options:
 *   --candidates <file.json>  [{ "name": ..., "kind"?: ..., "knobs": { ...ScheduleKnobs } }, ...]
 *                             (default: the SCHEDULE_CANDIDATES of the adapter's device class,
 *                             backends/webgpu/tune_candidates.ts)
 *   --programs matmul,moe-fwd,moe-bwd   which programs (default: all three)
 *   --size bench|small|tiny   bench: matmul 1024^3, layer T=1024 D=256 H=512 E=8 (minutes per
 *                             candidate on SwiftShader); small: 256^3, T=256 D=64 H=128; tiny: tests
 *   --repeats N               timed calls per program (default 3)
 *   --save                    write the winner for this adapter
 *   --file <path>             the tuning file (default: $MOEFORGE_WEBGPU_TUNING or ~/.cache/moeforge/...)
 */
import { existsSync, readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { createWebGPUContext } from "../backends/webgpu/device";
import {
  checkCandidates,
  tuneWebGPU,
  type TuneCandidate,
  type TuneProgram,
  type TuneRow,
} from "../backends/webgpu/tune";
import { tuneCandidatesFor } from "../backends/webgpu/tune_candidates";
import { saveTunedSchedule, tuningFilePath } from "../backends/webgpu/tuning";
import { evalProgram } from "../dsl/trace";
import { NDArray } from "../dsl/ndarray";
import { Tensor } from "../dsl/tensor";
import { matmul, spec, trace } from "../index";
import { moeforgePrograms, peerInputs, type PeerLayerConfig } from "../bench/peer_layer";
import { mulberry32, randomFloats, relativeError } from "../testing/random_programs";

const SIZES: Record<string, { n: number; layer: PeerLayerConfig }> = {
  bench: { n: 1024, layer: { T: 1024, D: 256, H: 512, E: 8, K: 2 } },
  small: { n: 256, layer: { T: 256, D: 64, H: 128, E: 8, K: 2 } },
  tiny: { n: 16, layer: { T: 16, D: 8, H: 12, E: 4, K: 2 } },
};
const PROGRAMS = ["matmul", "moe-fwd", "moe-bwd"] as const;

function programsFor(names: readonly string[], size: { n: number; layer: PeerLayerConfig }): TuneProgram[] {
  const { n, layer } = size;
  const rng = mulberry32(17);
  const { T, D, H, E } = layer;
  const li = peerInputs(layer);
  const t = (shape: number[], data: Float32Array) => Tensor._concrete(new NDArray("f32", shape, data));
  const layerInputs = [t([T, D], li.x), t([D, E], li.router), t([E, D, H], li.w1), t([E, H, D], li.w2)];
  const { loss, gradient } = moeforgePrograms(layer);
  const all: Record<(typeof PROGRAMS)[number], () => Omit<TuneProgram, "want">> = {
    matmul: () => ({
      name: `matmul ${n}^3`,
      program: trace((a, b) => matmul(a, b), spec([n, n]), spec([n, n])),
      inputs: [randomFloats(rng, "f32", [n, n]), randomFloats(rng, "f32", [n, n])],
    }),
    "moe-fwd": () => ({ name: `MoE fwd T=${T}`, program: loss, inputs: layerInputs }),
    "moe-bwd": () => ({
      name: `MoE fwd+bwd T=${T}`,
      program: gradient,
      inputs: [...layerInputs, t([], new Float32Array([1]))],
    }),
  };
  return names.map((name) => {
    const make = all[name as (typeof PROGRAMS)[number]];
    if (!make) throw new Error(`webgpu:tune: --programs ${name}: expected some of ${PROGRAMS.join(",")}`);
    const p = make();
    return { ...p, want: evalProgram(p.program, p.inputs).map((o) => o.dataSync()) };
  });
}

/** Runs the tuner with command-line `args`; prints with `log`; returns the rows and the winner. */
export async function webgpuTune(
  args: readonly string[],
  log: (line: string) => void = console.log,
): Promise<{ rows: TuneRow[]; best?: TuneRow; choice?: TuneCandidate; savedTo?: string }> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      candidates: { type: "string" },
      programs: { type: "string", default: PROGRAMS.join(",") },
      size: { type: "string", default: "bench" },
      repeats: { type: "string", default: "3" },
      save: { type: "boolean", default: false },
      file: { type: "string" },
    },
  });
  const size = SIZES[values.size!];
  if (!size) throw new Error(`webgpu:tune: --size ${values.size}: expected one of ${Object.keys(SIZES).join(", ")}`);
  const repeats = Number(values.repeats);
  if (!Number.isInteger(repeats) || repeats < 1)
    throw new Error(`webgpu:tune: --repeats ${values.repeats}: expected an integer >= 1`);
  const ctx = await createWebGPUContext();
  const deviceClass = ctx.deviceProfile.class;
  const candidates = values.candidates
    ? checkCandidates(JSON.parse(readFileSync(values.candidates, "utf8")), values.candidates)
    : tuneCandidatesFor(deviceClass);
  const programs = programsFor(values.programs!.split(","), size);
  const from = values.candidates ?? `the ${deviceClass} class's SCHEDULE_CANDIDATES`;
  log(
    `webgpu:tune on ${ctx.adapterName} (${ctx.adapterKey ?? "no adapter description"}), device class ${deviceClass}: ${from}`,
  );
  log(["schedule".padEnd(40), ...programs.map((p) => p.name.padStart(20)), "max rel err".padStart(12)].join("  "));
  const { rows, best, choice } = await tuneWebGPU(ctx, programs, candidates, {
    repeats,
    error: relativeError,
    onRow: (r) =>
      log(
        [
          r.candidate.name.padEnd(40),
          ...(r.error ? [`failed: ${r.error}`] : r.ms.map((ms) => `${ms.toFixed(1)} ms`.padStart(20))),
          r.error ? "" : r.maxError.toExponential(2).padStart(12),
        ].join("  "),
      ),
  });
  if (!best || !choice) {
    log("webgpu:tune: no candidate ran correctly");
    return { rows };
  }
  // The first candidate (of the declared list: the class's default matmul schedule) as the baseline.
  const base = rows[0]!.error ? undefined : rows[0]!;
  const speedup = base ? ` (${(base.totalMs / best.totalMs).toFixed(2)}x ${base.candidate.name})` : "";
  log(`best: ${best.candidate.name}: ${best.totalMs.toFixed(1)} ms in all${speedup}`);
  log(`choice: ${choice.name} ${JSON.stringify(choice.knobs)}`);
  if (!values.save) return { rows, best, choice };
  const path = values.file ?? tuningFilePath();
  if (!path) throw new Error("webgpu:tune: --save: no tuning file (MOEFORGE_WEBGPU_TUNING=off?); pass --file <path>");
  if (!ctx.adapterKey) throw new Error("webgpu:tune: --save: the adapter does not describe itself; nothing to key by");
  saveTunedSchedule(path, ctx.adapterKey, {
    candidate: choice.name,
    knobs: choice.knobs,
    deviceClass,
    tunedAt: new Date().toISOString(),
    note: programs.map((p, i) => `${p.name}: ${best.ms[i]!.toFixed(1)} ms`).join("; "),
  });
  log(`saved for ${ctx.adapterKey} in ${path}`);
  return { rows, best, choice, savedTo: path };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  // Without a GPU, Dawn runs on SwiftShader's Vulkan driver (as scripts/test.sh sets up).
  const swiftshader = "/usr/lib/chromium/vk_swiftshader_icd.json";
  if (!process.env.VK_ICD_FILENAMES && existsSync(swiftshader)) process.env.VK_ICD_FILENAMES = swiftshader;
  webgpuTune(process.argv.slice(2)).then(
    () => process.exit(0),
    (e) => {
      console.error(`webgpu:tune: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    },
  );
}
