/** `npm run temporal:install`: installs the pinned Temporal binaries that are missing and prints their paths. */
import { ensureTemporalBinaries } from '../src/local/temporal-binaries.js';

const found = ensureTemporalBinaries((line) => console.error(line));
console.log(`temporal CLI: ${found.cli ?? 'missing'}`);
console.log(`time-skipping test server: ${found.testServer ?? 'missing'}`);
