/**
 * Imports every emitter module so each registers itself (see `registerEmitter`).
 * An emitter for a new target adds one line here.
 */
import "./cuda";
import "./js";
import "./wgsl";
import "./wasm/emitter";
