#!/usr/bin/env node
// The `agentforge` bin: loads the TypeScript CLI through tsx (a dependency of this repository's
// install), so `npx agentforge …` in the repository and `npm link` both work without a build step.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/agentforge.ts");
