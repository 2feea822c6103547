/**
 * The schedule candidates `npm run webgpu:tune` times by default: those the
 * schedule module declares for the adapter's device class
 * (`SCHEDULE_CANDIDATES` in codegen/schedule.ts: matmul tiles, skinny GEMMs,
 * row reductions, each with a stable id and the knobs it sets over the class's
 * defaults). `--candidates file.json` replaces them with a list of the same shape.
 */
import { SCHEDULE_CANDIDATES } from "../../codegen/schedule";
import type { DeviceClass } from "../../codegen/device";
import type { TuneCandidate } from "./tune";

/**
 * The declared candidates of a device class, as the tuner times them (name = the candidate's id).
 * @example tuneCandidatesFor("cpu")[0]!.name // "matmul.registers8x8.wg64"
 */
export function tuneCandidatesFor(deviceClass: DeviceClass): TuneCandidate[] {
  const declared = SCHEDULE_CANDIDATES[deviceClass];
  if (!declared) throw new Error(`webgpu:tune: no schedule candidates for device class "${deviceClass}"`);
  return declared.map((c) => ({ name: c.id, kind: c.kind, knobs: c.knobs }));
}
