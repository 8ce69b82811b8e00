// npm run image [-- --out <dir>]: builds the runner's OCI image (docs/image.md).
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { buildImage, OUTPUT } from './image.ts';

const { values } = parseArgs({ options: { out: { type: 'string', default: '.cache/image' } } });
const out = resolve(values.out);
const started = Date.now();
try {
  const result = await buildImage({
    repo: REPO_ROOT,
    out,
    sourceDateEpoch: process.env.SOURCE_DATE_EPOCH,
    log: (line) => console.error(`image: [${((Date.now() - started) / 1000).toFixed(1)} s] ${line}`),
  });
  const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  for (const l of result.layers)
    console.error(`image: layer ${l.digest} ${mib(l.size)} (${mib(l.uncompressedSize)} unpacked)`);
  console.error(
    `image: ${resolve(out, OUTPUT.archive)} ${mib(result.archiveSize)}, tag ${result.tag}, ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  console.log(result.digest);
} catch (e) {
  console.error(`image: build failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
}
