/**
 * Container image references, parsed by the distribution/reference grammar
 * (github.com/distribution/reference, `regexp.go` and `normalize.go`), exactly as
 * policies/kubiya/lib/image.rego parses them: test/policies/image-ref.test.ts runs one table of
 * cases against both. Written here (not taken from a library) because the grammar must be the
 * same, character for character, as the Rego one that decides; no npm package pins that grammar.
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] path            (at most 255 characters)
 *   domain     := host [ ":" port ]               host: DNS labels joined by "." (IPv6 is refused)
 *   path       := component ( "/" component )*   component: [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest     := sha256:<64 hex> | sha384:<96 hex> | sha512:<128 hex>   (lower-case hex, go-digest)
 *
 * Normalisation (ParseNormalizedNamed): the first component is a registry when it contains "." or
 * ":", is "localhost", or has upper-case letters (one that has only that is refused: in lower case it
 * would name a Docker Hub namespace); otherwise the image is on docker.io, and a
 * one-component path there is an official image under "library/". "index.docker.io",
 * "registry-1.docker.io" and "registry.hub.docker.com" are aliases of "docker.io". Registry hosts are
 * compared in lower case (DNS is case-insensitive). Stricter than the grammar: a registry port is
 * 1-65535 without leading zeros, and never the default :443 (see portProblem).
 */
export interface ImageRef {
  /** Lower-case registry host with its port: "docker.io", "ghcr.io", "localhost:5000". */
  readonly registry: string;
  /** Path on the registry: "library/alpine", "acme/tool". */
  readonly repository: string;
  /** The tag as written, or "" when none was written. */
  readonly tag: string;
  /** "sha256:<hex>", or "" when none was written. */
  readonly digest: string;
  /** registry/repository[:tag][@digest], with ":latest" when neither tag nor digest was written. */
  readonly canonical: string;
}

export type ImageRefResult =
  { readonly ok: true; readonly ref: ImageRef } | { readonly ok: false; readonly reason: string };

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `${LABEL}(?:\\.${LABEL})*(?::[0-9]+)?`;
/** The whole reference; the same expression (as an RE2 string) is in policies/kubiya/lib/image.rego. */
export const REFERENCE_PATTERN = `^((?:${DOMAIN}/)?${COMPONENT}(?:/${COMPONENT})*)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128}))?$`;
const REFERENCE = new RegExp(REFERENCE_PATTERN);
/** An allow/deny entry: a registry host, a registry/namespace prefix or a repository (no tag, no digest). */
export const ENTRY_PATTERN = `^(?:${DOMAIN}(?:/${COMPONENT})*|${COMPONENT}(?:/${COMPONENT})*)$`;
const ENTRY = new RegExp(ENTRY_PATTERN);

/**
 * Host names of Docker Hub: containerd and Docker pull `registry-1.docker.io/library/alpine` and
 * `registry.hub.docker.com/library/alpine` from the same repository as `alpine`, so they normalise
 * to "docker.io" (in references and in allow/deny entries). The same set is `docker_hub_aliases` in
 * policies/kubiya/lib/image.rego (test/unit/settings.test.ts compares them).
 */
export const DOCKER_HUB_ALIASES: readonly string[] = [
  'index.docker.io',
  'registry-1.docker.io',
  'registry.hub.docker.com',
];

/**
 * Why the port of a registry host is refused, or undefined: a port must be 1..65535 without
 * leading zeros, and not 443 — HTTPS's default port names the same registry as no port
 * (`ghcr.io:443/acme/x` is `ghcr.io/acme/x`), so a deny entry `ghcr.io/acme` would not see it.
 * Refused rather than normalised: the pod would still pull the spelling as written.
 */
function portProblem(registry: string): string | undefined {
  const colon = registry.indexOf(':');
  if (colon === -1) return undefined;
  const port = registry.slice(colon + 1);
  if (!/^[1-9][0-9]{0,4}$/.test(port) || Number(port) > 65535)
    return 'a registry port is 1-65535 without leading zeros';
  return port === '443'
    ? 'the default port :443 names the same registry as no port: write the registry without it'
    : undefined;
}

const MAX_NAME = 255;
/** Bound before the regex runs (the Rego checks the same): name 255 + tag 129 + digest 136, with room. */
const MAX_REFERENCE = 1024;

function isRegistry(first: string): boolean {
  return first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase();
}

/** Registry and repository of a name (no tag, no digest), normalised. */
function split(name: string): { registry: string; repository: string } {
  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  if (slash === -1 || !isRegistry(first)) {
    return { registry: 'docker.io', repository: slash === -1 ? `library/${name}` : name };
  }
  let registry = first.toLowerCase();
  if (DOCKER_HUB_ALIASES.includes(registry)) registry = 'docker.io';
  const path = name.slice(slash + 1);
  return { registry, repository: registry === 'docker.io' && !path.includes('/') ? `library/${path}` : path };
}

/** Parses and normalises an image reference; an invalid one is refused with the reason. */
export function parseImageRef(text: string): ImageRefResult {
  if (text.length > MAX_REFERENCE) return { ok: false, reason: `longer than ${MAX_REFERENCE} characters` };
  const m = REFERENCE.exec(text);
  if (m === null)
    return {
      ok: false,
      reason:
        'not a valid image reference (lower-case repository components, no empty or ".." components, tag of at most 128 characters, sha256/384/512 digest)',
    };
  const name = m[1] ?? '';
  if (name.length > MAX_NAME) return { ok: false, reason: `repository name longer than ${MAX_NAME} characters` };
  const { registry, repository } = split(name);
  // "Registry/app" is a registry only by its upper case: in lower case it would be a Docker Hub
  // namespace. Refused rather than guessed (its canonical form would name another image).
  if (registry !== 'docker.io' && !isRegistry(registry))
    return { ok: false, reason: 'a registry host told apart only by upper-case letters is ambiguous' };
  const port = portProblem(registry);
  if (port !== undefined) return { ok: false, reason: port };
  if (/^[a-f0-9]{64}$/.test(repository.replace(/^library\//, '')) && registry === 'docker.io')
    return { ok: false, reason: 'a 64-character hexadecimal name is an image ID, not a repository' };
  const tag = m[2] ?? '';
  const digest = m[3] ?? '';
  const canonical = `${registry}/${repository}${tag !== '' ? `:${tag}` : digest === '' ? ':latest' : ''}${digest !== '' ? `@${digest}` : ''}`;
  return { ok: true, ref: { registry, repository, tag, digest, canonical } };
}

/** An allow/deny list entry, normalised: `path` "" means the whole registry. */
export interface ImageEntry {
  readonly registry: string;
  readonly path: string;
}

/**
 * Parses an `images.allowedRegistries` / `images.deniedImages` entry: a registry host ("ghcr.io"),
 * a registry/namespace prefix ("ghcr.io/acme", "docker.io/library") or a repository
 * ("docker.io/library/alpine", or the short "alpine" / "library/alpine", normalised as an image
 * name would be: "docker.io/alpine" is the official image docker.io/library/alpine, while
 * "docker.io/library" is the namespace of all official images). `undefined` when the entry is not in that grammar (no tags, digests or globs).
 */
export function parseImageEntry(text: string): ImageEntry | undefined {
  if (!ENTRY.test(text) || text.length > MAX_NAME) return undefined;
  const slash = text.indexOf('/');
  const first = slash === -1 ? text : text.slice(0, slash);
  if (isRegistry(first) && portProblem(first.toLowerCase()) !== undefined) return undefined;
  if (slash === -1 && isRegistry(first)) {
    const host = first.toLowerCase();
    return { registry: DOCKER_HUB_ALIASES.includes(host) ? 'docker.io' : host, path: '' };
  }
  // "docker.io/library" is the namespace of every official image, not the official image "library".
  if (
    text.slice(slash).toLowerCase() === '/library' &&
    ['docker.io', ...DOCKER_HUB_ALIASES].includes(first.toLowerCase())
  )
    return { registry: 'docker.io', path: 'library' };
  const { registry, repository } = split(text);
  return { registry, path: repository };
}

/** True when `entry` covers `ref`: same registry, and the repository equals the entry's path or lies under it on a "/" boundary. */
export function entryMatches(entry: ImageEntry, ref: Pick<ImageRef, 'registry' | 'repository'>): boolean {
  if (entry.registry !== ref.registry) return false;
  return entry.path === '' || ref.repository === entry.path || ref.repository.startsWith(`${entry.path}/`);
}
