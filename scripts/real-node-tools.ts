// Builds the real node's pinned tools (tools/build.sh --real-node) only where the real-node tier can
// run: Linux, root and the Debian packages present. Elsewhere it says why and builds nothing (the
// tier then skips, or fails under KUBIYA_REQUIRE_REAL_NODE=1 as in .ci/run).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../src/adapters/tools.ts';
import { realNodeMissing } from '../src/dev/node/prerequisites.ts';

const hostMissing = realNodeMissing().filter((why) => !why.startsWith('missing tools'));
if (hostMissing.length > 0) {
  console.log(`real-node tools not built: ${hostMissing.join('; ')}`);
  process.exit(0);
}
const r = spawnSync('bash', [join(REPO_ROOT, 'tools', 'build.sh'), '--real-node'], { stdio: 'inherit' });
process.exit(r.status ?? 1);
