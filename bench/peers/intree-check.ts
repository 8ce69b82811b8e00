/**
 * A check of the in-tree row's CEL image rules against the runner's own image grammar
 * (src/oci/image-ref.ts, the same table as policies/kubiya/lib/image.rego), on a real API server:
 * every image of the table below is dry-run created in the in-tree row's namespace and the
 * answer compared with the runner's. Classes: short Docker Hub names, Docker Hub aliases,
 * registry told by ".", ":" or "localhost", upper-case hosts, ports, look-alike hosts, tags
 * (latest, untagged, case), digests with and without tags, references the runner's grammar refuses
 * (upper-case repository, two tags, port 443, a host told apart only by case).
 *
 *   node bench/peers/run.ts --intree-check      (prints the table; exit 1 when any answer differs)
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { parseImageEntry, parseImageRef, entryMatches } from '../../src/oci/image-ref.ts';
import { rowEnv, startControlPlane } from './control-plane.ts';
import { allowedRegistries } from './intree-policy.ts';
import { inTreeRow } from './intree-row.ts';
import { stepContainer, stepPod } from './step.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const IMAGES = [
  'python:3.11-slim',
  'migrate/migrate:v4.17.0',
  'docker.io/library/python:3.11',
  'docker.io/python:3.11',
  'index.docker.io/library/python:3.11',
  'registry-1.docker.io/python:3.11',
  'registry.hub.docker.com/library/python:3.11',
  'ghcr.io/acme/tool:1.0',
  'GHCR.IO/acme/tool:1.0',
  'public.ecr.aws/acme/tool:1',
  'registry.k8s.io/pause:3.9',
  'quay.io/app:LATEST',
  `quay.io/app@${DIGEST}`,
  `quay.io/app:latest@${DIGEST}`,
  `python@${DIGEST}`,
  'localhost:5000/app:1.0',
  'localhost/app:1.0',
  'registry.example.com/python:3.11',
  'docker.io.evil.com/python:3.11',
  'ghcr.io.evil.com/acme/tool:1.0',
  'ghcr.io:5000/acme/tool:1.0',
  'quay.io:443/app:1',
  'Acme/app:1',
  'quay.io/app:latest',
  'quay.io/app',
  'python',
  'python:latest',
  'docker.io/python',
  'localhost:5000/app',
  'quay.io/App:1',
  'quay.io/app:1.0:2',
];

/** The runner's answer for an image alone: valid, from an allowed registry, pinned by a non-latest tag or a digest. */
function runnerAnswer(image: string, allowed: readonly string[]): 'allow' | 'deny' | 'invalid' {
  const parsed = parseImageRef(image);
  if (!parsed.ok) return 'invalid';
  const { ref } = parsed;
  const entries = allowed.map(parseImageEntry).filter((e) => e !== undefined);
  const fromAllowed = entries.some((e) => entryMatches(e, ref));
  const pinned = ref.digest !== '' || (ref.tag !== '' && ref.tag !== 'latest');
  return fromAllowed && pinned ? 'allow' : 'deny';
}

/** Runs the table on its own control plane; prints it as Markdown; resolves with the number of differences. */
export async function intreeCheck(log: (s: string) => void): Promise<number> {
  const cp = await startControlPlane(log);
  const row = inTreeRow();
  let failed = 0;
  try {
    const env = await rowEnv(cp, 'intree-check', log);
    await row.start(env);
    const core = cp.kc.makeApiClient(CoreV1Api);
    const allowed = allowedRegistries();
    console.log('| image | runner (src/oci/image-ref.ts) | in-tree CEL | |\n|---|---|---|---|');
    for (const [i, image] of IMAGES.entries()) {
      const pod = stepPod(env.namespace, `check-${i}`);
      const c = stepContainer(pod);
      if (c !== undefined) c.image = image;
      const cel = await core.createNamespacedPod({ namespace: env.namespace, body: pod, dryRun: 'All' }).then(
        () => 'allow',
        () => 'deny',
      );
      const want = runnerAnswer(image, allowed);
      const same = want === cel || (want === 'invalid' && cel === 'deny');
      if (!same) failed++;
      console.log(
        `| \`${image}\` | ${want} | ${cel} | ${same ? (want === 'invalid' ? 'same (runner: invalid)' : 'same') : 'DIFFERENT'} |`,
      );
    }
  } finally {
    await row.stop();
    await cp.cluster.stop();
  }
  return failed;
}
