/** Gradient properties of the reduce cases (cases and run counts: cases/reduce.ts, docs/GRADIENT-CHECKS.md). */
import { reduceCases } from "./cases/reduce";
import { describeGradCases } from "./helpers";

describeGradCases(reduceCases);
