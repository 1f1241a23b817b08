// Entry point of the bundled GPU benchmark (bench/gpu/bundle.mjs builds it; bench/gpu/run.sh runs it).
import { run } from './main';

process.exitCode = await run(process.argv.slice(2));
