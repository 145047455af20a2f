/** `npm run fuzz:install`: installs schemathesis when it is missing and prints its path. */
import { ensureSchemathesis } from './fuzz-tools.js';

const found = ensureSchemathesis((line) => console.error(line));
console.log(`schemathesis: ${found ?? 'missing'}`);
if (!found) process.exitCode = 1;
