/**
 * Tuned schedules per adapter. `npm run webgpu:tune -- --save` times schedule
 * candidates (`ScheduleKnobs`, codegen/schedule.ts) on the present adapter and
 * writes the fastest one's knobs into a JSON file, keyed by the adapter's
 * description (vendor / architecture / device / driver). The webgpu backend
 * reads the file once per context and compiles every program for that
 * adapter with those knobs; other adapters' entries are ignored.
 *
 * The file: `$MOEFORGE_WEBGPU_TUNING` when set (`off` disables tuning), else
 * `$XDG_CACHE_HOME/moeforge/webgpu-tuning.json`, else
 * `~/.cache/moeforge/webgpu-tuning.json`; in Node only (browsers have no file
 * system: pass knobs with `setWebGPUTuning`). A file that is not what
 * `webgpu:tune` writes is an error naming the file and the problem.
 *
 * @example
 * // {"version":1,"adapters":{"google/swiftshader/swiftshader-device-subzero-/SwiftShader driver 5.0.0":
 * //   {"candidate":"register 8x8","knobs":{"tileM":64,"tileN":64,"microM":8,"microN":8},"tunedAt":"..."}}}
 * setWebGPUTuning({ tileM: 32, tileN: 32 }); // this process, the default context: no file involved
 */
import type { ScheduleKnobs } from "../../codegen/schedule";
import { requireWebGPU, type WebGPUContext } from "./device";

export { adapterKey, type AdapterDescription } from "./device";

/** What `webgpu:tune` stores for one adapter. */
export interface TunedSchedule {
  /** The winning candidate's name. */
  readonly candidate: string;
  readonly knobs: Partial<ScheduleKnobs>;
  /** The device class of the adapter it was timed on (whose `SCHEDULE_CANDIDATES` the tuner times by default). */
  readonly deviceClass?: string;
  /** ISO date of the tuning run. */
  readonly tunedAt: string;
  /** What was timed, e.g. "matmul 1024^3: 812 ms; ...". */
  readonly note?: string;
}

/** The tuning file: one entry per adapter key (`adapterKey`). */
export interface WebGPUTuningFile {
  readonly version: 1;
  readonly adapters: Readonly<Record<string, TunedSchedule>>;
}

/**
 * Every knob and the type its value must have (a mapped type: a knob added to ScheduleKnobs must be listed);
 * `count` is a number >= 0 (skinnyN 0: no skinny schedule).
 */
const KNOB_TYPES: { readonly [K in keyof ScheduleKnobs]-?: "number" | "count" | "boolean" } = {
  elementwiseWorkgroup: "number",
  reduceWorkgroup: "number",
  workgroupReduceMinLength: "number",
  workgroupReduceMaxRows: "number",
  sharedMatmul: "boolean",
  matmulWorkgroup: "number",
  skinnyN: "count",
  skinnyRows: "number",
  tileM: "number",
  tileN: "number",
  tileK: "number",
  microM: "number",
  microN: "number",
  stridedMicroTile: "boolean",
  dispatchSortManyFrom: "number",
  tensorCoreMatmul: "boolean",
};

/**
 * Checks that `knobs` holds only ScheduleKnobs with values of their types; throws naming `where` and the knob.
 * @example checkKnobs({ tileM: 32 }, "my candidates") // returns the knobs
 */
export function checkKnobs(knobs: unknown, where: string): Partial<ScheduleKnobs> {
  if (typeof knobs !== "object" || knobs === null || Array.isArray(knobs))
    throw new Error(`${where}: knobs must be an object of ScheduleKnobs, got ${JSON.stringify(knobs)}`);
  for (const [name, value] of Object.entries(knobs)) {
    const type = KNOB_TYPES[name as keyof ScheduleKnobs];
    if (!type)
      throw new Error(
        `${where}: "${name}" is not a schedule knob; expected one of ${Object.keys(KNOB_TYPES).join(", ")}`,
      );
    const ok =
      type === "boolean"
        ? typeof value === "boolean"
        : typeof value === "number" && (value > 0 || (type === "count" && value === 0));
    if (!ok) {
      const expected = type === "boolean" ? "boolean" : type === "count" ? "number >= 0" : "number > 0";
      throw new Error(`${where}: knob "${name}" is ${JSON.stringify(value)}; expected a ${expected}`);
    }
  }
  return knobs as Partial<ScheduleKnobs>;
}

/** Parses the tuning file's text; throws naming `path` and what is wrong. */
export function parseTuningFile(text: string, path: string): WebGPUTuningFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`webgpu tuning file ${path}: not JSON (${(e as Error).message})`, { cause: e });
  }
  const file = json as Partial<WebGPUTuningFile>;
  if (typeof json !== "object" || json === null || file.version !== 1 || typeof file.adapters !== "object")
    throw new Error(
      `webgpu tuning file ${path}: expected {"version": 1, "adapters": {...}} as \`npm run webgpu:tune -- --save\` writes it`,
    );
  for (const [key, entry] of Object.entries(file.adapters ?? {})) {
    if (typeof entry?.candidate !== "string")
      throw new Error(`webgpu tuning file ${path}: adapter "${key}" has no "candidate" name`);
    checkKnobs(entry.knobs, `webgpu tuning file ${path}, adapter "${key}"`);
  }
  return file as WebGPUTuningFile;
}

type NodeFs = {
  existsSync(p: string): boolean;
  readFileSync(p: string, e: "utf8"): string;
  writeFileSync(p: string, s: string): void;
  mkdirSync(p: string, o: { recursive: true }): void;
};

/** Node's fs at run time (the core imports no Node built-in; in a browser this is undefined). */
function nodeFs(): NodeFs | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (m: string) => unknown } }).process;
  return proc?.getBuiltinModule?.("node:fs") as NodeFs | undefined;
}

/** Where the tuning file is (see the file comment), or undefined when tuning is off or there is no file system. */
export function tuningFilePath(): string | undefined {
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env;
  if (!env || !nodeFs()) return undefined;
  const explicit = env.MOEFORGE_WEBGPU_TUNING;
  if (explicit !== undefined) return explicit === "off" || explicit === "" ? undefined : explicit;
  const cache = env.XDG_CACHE_HOME || (env.HOME ? `${env.HOME}/.cache` : undefined);
  return cache ? `${cache}/moeforge/webgpu-tuning.json` : undefined;
}

/** The tuning file's contents (an empty file when it does not exist). */
export function readTuningFile(path: string): WebGPUTuningFile {
  const fs = nodeFs();
  if (!fs?.existsSync(path)) return { version: 1, adapters: {} };
  return parseTuningFile(fs.readFileSync(path, "utf8"), path);
}

/** Adds (or replaces) the entry of one adapter in the tuning file, keeping the others. */
export function saveTunedSchedule(path: string, key: string, entry: TunedSchedule): void {
  const fs = nodeFs();
  if (!fs) throw new Error("saveTunedSchedule: no file system here (Node only)");
  checkKnobs(entry.knobs, `saveTunedSchedule(${key})`);
  const file = readTuningFile(path);
  const dir = path.slice(0, Math.max(0, path.lastIndexOf("/")));
  if (dir) fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path, JSON.stringify({ version: 1, adapters: { ...file.adapters, [key]: entry } }, null, 2) + "\n");
}

/** Knobs per context: from the tuning file (read once) or `setWebGPUTuning`. */
const knobsByContext = new WeakMap<WebGPUContext, Partial<ScheduleKnobs> | undefined>();

/**
 * The schedule knobs the webgpu backend compiles with on `ctx`: those set by
 * `setWebGPUTuning`, else the tuning file's entry for its adapter, else none
 * (the default schedule).
 */
export function webgpuTuning(ctx: WebGPUContext): Partial<ScheduleKnobs> | undefined {
  if (knobsByContext.has(ctx)) return knobsByContext.get(ctx);
  const path = tuningFilePath();
  const knobs = path && ctx.adapterKey ? readTuningFile(path).adapters[ctx.adapterKey]?.knobs : undefined;
  knobsByContext.set(ctx, knobs);
  return knobs;
}

/**
 * Sets the knobs the webgpu backend compiles with on a context (`undefined`: the default schedule, ignoring
 * the tuning file); the next call of each program compiles it again under them.
 * @example setWebGPUTuning({ tileM: 32, tileN: 32, microM: 4, microN: 4 });
 */
export function setWebGPUTuning(knobs: Partial<ScheduleKnobs> | undefined, ctx: WebGPUContext = requireWebGPU()): void {
  knobsByContext.set(ctx, knobs === undefined ? undefined : checkKnobs(knobs, "setWebGPUTuning"));
}
