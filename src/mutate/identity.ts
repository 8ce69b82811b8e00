import type { V1Volume, V1VolumeProjection } from '@kubernetes/client-node';

/** The longest a projected service account token may live once mutated (one day; the schema's ceiling). */
export const MAX_TOKEN_SECONDS = 86_400;
/** Kubernetes' shortest. */
const MIN_TOKEN_SECONDS = 600;

/**
 * The identity invariants of mutate (issue 19 item 3): a projected serviceAccountToken source
 * without an audience (it would be valid for the API server itself) is removed, and a lifetime is
 * brought within [600 s, 1 day] (absent: the API server's 3600 s stays). A projected volume left
 * with no source is removed (its mounts go with it). `automountServiceAccountToken: false` is
 * forced by mutate itself: the legacy token is never mounted, whatever the account.
 */
export function safeTokenVolume(v: V1Volume): V1Volume | undefined {
  const sources = v.projected?.sources;
  if (v.projected === undefined || sources === undefined) return v;
  const kept = sources.flatMap((s): V1VolumeProjection[] => {
    const t = s.serviceAccountToken;
    if (t === undefined) return [s];
    if (t.audience === undefined || t.audience === '') return [];
    const seconds = t.expirationSeconds;
    if (seconds === undefined) return [s];
    const clamped = Math.min(MAX_TOKEN_SECONDS, Math.max(MIN_TOKEN_SECONDS, seconds));
    return [clamped === seconds ? s : { ...s, serviceAccountToken: { ...t, expirationSeconds: clamped } }];
  });
  if (kept.length === sources.length && kept.every((s, i) => s === sources[i])) return v;
  return kept.length === 0 ? undefined : { ...v, projected: { ...v.projected, sources: kept } };
}
