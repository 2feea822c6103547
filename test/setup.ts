/**
 * Test-wide fast-check settings. Property tests run from a fixed seed, so a CI
 * run is reproducible and never fails on a draw that a previous run did not
 * make; set FC_SEED=<n> to run them from another seed, or FC_SEED=random to
 * explore (the seed of a failure is always printed by fast-check).
 */
import fc from "fast-check";
// Tests import dsl/ modules directly: load the primitive table `bind` applies (core.ts does it for the package).
import "../dsl/primitives/registry";

const env = process.env.FC_SEED;
const seed =
  env === "random" ? Date.now() ^ (Math.random() * 2 ** 31) : env !== undefined && env !== "" ? Number(env) : 20261126;
if (!Number.isInteger(seed)) throw new Error(`FC_SEED=${env}: expected an integer or "random"`);
fc.configureGlobal({ seed });

// Tests compile with the default schedules: a tuning file saved on this machine (`npm run webgpu:tune -- --save`)
// must not change what they run; tests of the tuning set their own file.
process.env.MOEFORGE_WEBGPU_TUNING ??= "off";
