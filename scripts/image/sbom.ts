// The image's SBOM (CycloneDX JSON): the production npm tree as @cyclonedx/cyclonedx-npm reads it
// from the staged install, plus what that tool cannot see — the Node binary and the Debian
// packages whose files the image copies — as components with package URLs (purl-spec: pkg:deb).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { DebianPackage } from './debian.ts';

const run = promisify(execFile);

/** A CycloneDX component, as far as this file writes them. */
interface Component {
  type: string;
  'bom-ref': string;
  name: string;
  version: string;
  purl: string;
  hashes?: { alg: string; content: string }[];
  licenses?: { license: { id: string } }[];
}

/** The parts of a CycloneDX document this file reads or extends. */
interface Bom {
  metadata?: { component?: { 'bom-ref'?: string } };
  components?: Component[];
  dependencies?: { ref: string; dependsOn?: string[] }[];
}

/** What the image holds besides npm packages. */
export interface SbomExtras {
  node: { version: string; sha256: string };
  debian: readonly DebianPackage[];
  distro: string;
}

/** `pkg:deb/debian/<name>@<version>?arch=<arch>&distro=<distro>` (purl-spec, deb type). */
export function debianPurl(pkg: DebianPackage, distro: string): string {
  const v = encodeURIComponent(pkg.version);
  return `pkg:deb/debian/${pkg.name}@${v}?arch=${pkg.arch}&distro=${distro}`;
}

function extraComponents(extras: SbomExtras): Component[] {
  const node: Component = {
    type: 'application',
    'bom-ref': 'node-binary',
    name: 'node',
    version: extras.node.version,
    purl: `pkg:generic/node@${extras.node.version}?download_url=https://nodejs.org/dist/v${extras.node.version}/`,
    hashes: [{ alg: 'SHA-256', content: extras.node.sha256 }],
    licenses: [{ license: { id: 'MIT' } }],
  };
  const debs = [...extras.debian]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((pkg): Component => {
      const purl = debianPurl(pkg, extras.distro);
      return { type: 'library', 'bom-ref': purl, name: pkg.name, version: pkg.version, purl };
    });
  return [node, ...debs];
}

/**
 * Runs cyclonedx-npm (reproducible output, dev dependencies omitted) on the staged app at `app`
 * and adds the Node binary and the Debian packages. Returns the SBOM as JSON text.
 */
export async function makeSbom(repo: string, app: string, extras: SbomExtras): Promise<string> {
  const cli = join(repo, 'node_modules', '.bin', 'cyclonedx-npm');
  const out = join(dirname(app), 'npm.cdx.json');
  const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
  await run(
    cli,
    [
      '--omit',
      'dev',
      '--output-reproducible',
      '--output-format',
      'JSON',
      '--spec-version',
      '1.6',
      '--output-file',
      out,
      join(app, 'package.json'),
    ],
    { cwd: app, env, maxBuffer: 64 * 1024 * 1024 },
  );
  const bom = JSON.parse(await readFile(out, 'utf8')) as Bom;
  const extra = extraComponents(extras);
  bom.components = [...(bom.components ?? []), ...extra];
  // The image (the root component) depends on them as it depends on its npm packages.
  const root = bom.metadata?.component?.['bom-ref'];
  const deps = (bom.dependencies ??= []);
  const rootDeps = deps.find((d) => d.ref === root);
  if (root === undefined || rootDeps === undefined) throw new Error('cyclonedx-npm wrote no root component');
  rootDeps.dependsOn = [...(rootDeps.dependsOn ?? []), ...extra.map((c) => c['bom-ref'])];
  deps.push(...extra.map((c) => ({ ref: c['bom-ref'], dependsOn: [] })));
  return `${JSON.stringify(bom, null, 2)}\n`;
}
