import { createHash } from 'node:crypto';

/**
 * How a runner's settings come about, in one pure function shared by the runner (the data file
 * of `policy.data`, which the Helm chart renders from `policy.settings`) and the CLI
 * (`policy eval|replay|test --values <helm values> | --data <data.json>`): the bundle's
 * `kubiya.settings` (policies/data.json, built in) with the overlay's settings laid over them.
 *
 * Merge rule (Helm's own for values): objects merge key by key, recursively; anything else — an
 * array, a string, a number, a boolean — replaces the bundle's value whole. So an empty overlay
 * (the chart's default `policy.settings: {}`) leaves the bundle's settings exactly as built, a
 * `warn` the security team put in the bundle's `enforcement` stays `warn` unless the values name
 * that code, and `allowedRegistries: [...]` in values is the whole list, not an addition.
 * Keys `__proto__`, `constructor` and `prototype` are copied as plain own properties (never
 * through a prototype); the settings schema refuses them afterwards.
 */
export function overlaySettings(base: unknown, overlay: unknown): unknown {
  if (!isObject(base) || !isObject(overlay)) return overlay === undefined ? base : overlay;
  const out: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(base), ...Object.keys(overlay)])) {
    const value = Object.hasOwn(overlay, key) ? overlaySettings(base[key], overlay[key]) : base[key];
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `kubiya.settings` of a data document, or undefined when it has none. */
export function settingsOf(data: unknown): unknown {
  const kubiya = isObject(data) ? data.kubiya : undefined;
  return isObject(kubiya) ? kubiya.settings : undefined;
}

/**
 * The data a runner decides with: the bundle's data document with the overlay document's
 * `kubiya.settings` laid over its `kubiya.settings` (overlaySettings); the rest of the bundle's
 * data unchanged. An overlay without `kubiya.settings` is refused by the callers
 * (POLICY_SETTINGS_INVALID); here it changes nothing. Settings that are not an object (a list,
 * a string) replace the bundle's whole, so the settings schema refuses them.
 */
export function effectiveData(bundleData: unknown, overlayData: unknown): unknown {
  const overlay = settingsOf(overlayData);
  // no settings: nothing to lay over; settings that are not an object replace (the schema refuses them)
  if (overlay === undefined) return bundleData;
  const base = isObject(bundleData) ? bundleData : {};
  const kubiya = isObject(base.kubiya) ? base.kubiya : {};
  return {
    ...base,
    kubiya: { ...kubiya, settings: overlaySettings(kubiya.settings ?? {}, overlay) },
  };
}

/**
 * The revision of a bundle decided with an overlay data file: both named, since the same bundle
 * with other settings decides differently. `text` is the data file's exact bytes (the runner's
 * mounted file, or the ConfigMap the chart renders): `policy eval --values` names the revision the
 * runner will report.
 */
export const overlayRevision = (bundleRevision: string, text: string): string =>
  `${bundleRevision}+data-${createHash('sha256').update(text).digest('hex').slice(0, 8)}`;

/**
 * Why an overlay data document may not be laid over a SIGNED bundle, or undefined when it changes
 * nothing. A runner (or `policy eval|replay|test --verification-key`) that verifies bundles decides
 * with the signed bundle's settings only (docs/policies.md, 3; SECURITY.md): an overlay comes from
 * outside the signature (the `policy.data` file, the ConfigMap the chart renders, `--data`,
 * `--values`), so anyone who can edit it could weaken a signed policy. The one overlay accepted is
 * the empty one, `{"kubiya": {"settings": {}}}` (it changes nothing); anything else is refused with
 * POLICY_SETTINGS_UNSIGNED, by `source` and the top-level keys it sets (never their values), or
 * POLICY_SETTINGS_INVALID when it has no settings object at all.
 */
export function unsignedOverlayProblem(
  overlayData: unknown,
  source: string,
): { readonly code: 'POLICY_SETTINGS_UNSIGNED' | 'POLICY_SETTINGS_INVALID'; readonly message: string } | undefined {
  const settings = settingsOf(overlayData);
  if (!isObject(settings))
    return { code: 'POLICY_SETTINGS_INVALID', message: `${source} has no kubiya.settings object` };
  const keys = Object.keys(settings);
  if (keys.length === 0) return undefined;
  return {
    code: 'POLICY_SETTINGS_UNSIGNED',
    message:
      `${source} sets kubiya.settings (${keys
        .slice(0, 8)
        .map((k) => JSON.stringify(k))
        .join(', ')}${keys.length > 8 ? ', ...' : ''}) over a signed bundle: ` +
      'with verification keys the settings come from the signed bundle only; bake them in with ' +
      '`kubiya-runner policy build --values <values file> --signing-key <pem>` (or --data) and leave policy.settings empty',
  };
}
