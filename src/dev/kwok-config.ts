import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

/** kwok's pod lifecycle stages for the local cluster (`__KWOK_SERVER_PORT__` is filled in per cluster). */
const KWOK_STAGES = fileURLToPath(new URL('./kwok/stages.yaml', import.meta.url));

/** The line every simulated step container logs (CRI log format), so pods/log has something to serve. */
export const KWOK_STEP_LOG = 'step output (simulated by kwok)';

/**
 * Writes `<dir>/kwok.yaml`: stages.yaml with this cluster's kubelet port, plus a ClusterLogs giving
 * every step container a log (`<dir>/step.log`). Returns the file's path.
 */
export async function kwokConfiguration(dir: string, port: number): Promise<string> {
  const logsFile = join(dir, 'step.log');
  const t = '2026-01-01T00:00:00.000000000Z';
  await writeFile(logsFile, `${t} stdout F ${KWOK_STEP_LOG}\n${t} stdout F line 2\n${t} stderr F line 3 on stderr\n`);
  const stages = (await readFile(KWOK_STAGES, 'utf8')).replaceAll('__KWOK_SERVER_PORT__', String(port));
  const logs = stringify({
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'ClusterLogs',
    metadata: { name: 'step-logs' },
    spec: { logs: [{ containers: ['step'], logsFile, follow: false }] },
  });
  const file = join(dir, 'kwok.yaml');
  await writeFile(file, `${stages}\n---\n${logs}`);
  return file;
}
