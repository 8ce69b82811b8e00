import { entryMatches, parseImageEntry, parseImageRef, type ImageRef } from '../oci/image-ref.ts';

/**
 * Image filters of `audit query`, matched on the normalised reference: the same parser and the
 * same Docker/distribution normalisation the policy decides with (src/oci/image-ref.ts), so
 * `nginx`, `library/nginx`, `docker.io/library/nginx` and `index.docker.io/library/nginx` name one
 * repository.
 *
 * `--image` (a reference): a filter without tag or digest matches every tag and digest of that
 * repository (`nginx` finds `nginx:1.25` and `docker.io/library/nginx@sha256:…`: it is a search, not
 * a pull, so it does not mean `:latest`); with a tag it matches that tag (a record that wrote no
 * tag and no digest pulled `latest`, so `nginx:latest` finds `nginx`); with a digest, that digest.
 *
 * `--repository` (a prefix, the grammar of the policy's `images.allowedRegistries`): a registry
 * (`ghcr.io`), a namespace (`ghcr.io/acme`, `docker.io/library`) or a repository, matched on a `/`
 * boundary (`ghcr.io/acme` does not find `ghcr.io/acme-evil/x`).
 *
 * A recorded image that does not parse (the validate or policy stage refused it) matches no
 * image filter: find those records by `--stage validate --outcome deny` or `--code`.
 */
export type ImageMatcher = (image: string) => boolean;

/** A matcher for `--image`, or the reason the filter is not an image reference. */
export function imageMatcher(filter: string): { ok: true; match: ImageMatcher } | { ok: false; reason: string } {
  const parsed = parseImageRef(filter);
  if (!parsed.ok) return { ok: false, reason: `--image ${JSON.stringify(filter)}: ${parsed.reason}` };
  const want = parsed.ref;
  const same = (got: ImageRef): boolean => {
    if (got.registry !== want.registry || got.repository !== want.repository) return false;
    if (want.digest !== '' && got.digest !== want.digest) return false;
    if (want.tag !== '' && (got.tag || (got.digest === '' ? 'latest' : '')) !== want.tag) return false;
    return true;
  };
  return {
    ok: true,
    match: (image) => {
      const got = parseImageRef(image);
      return got.ok && same(got.ref);
    },
  };
}

/** A matcher for `--repository`, or the reason the prefix is not a registry, namespace or repository. */
export function repositoryMatcher(filter: string): { ok: true; match: ImageMatcher } | { ok: false; reason: string } {
  const entry = parseImageEntry(filter);
  if (entry === undefined)
    return {
      ok: false,
      reason: `--repository ${JSON.stringify(filter)}: not a registry, namespace or repository (no tag, digest or glob)`,
    };
  return {
    ok: true,
    match: (image) => {
      const got = parseImageRef(image);
      return got.ok && entryMatches(entry, got.ref);
    },
  };
}
