// npm run manifest: regenerate deploy/kubiya-runner.yaml from the chart.
import { writeFile } from 'node:fs/promises';
import { resolveTools } from '../src/adapters/tools.ts';
import { MANIFEST, renderManifest } from '../src/dev/manifest.ts';

const tools = resolveTools(['helm']);
if (!tools.ok) {
  console.error(`${tools.error.code}: ${tools.error.message}`);
  process.exit(2);
}
await writeFile(MANIFEST, await renderManifest(tools.value.helm));
console.log(`wrote ${MANIFEST}`);
