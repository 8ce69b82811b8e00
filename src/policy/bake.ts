import { effectiveData, overlayRevision, settingsOf } from './overlay.ts';
import { parseProblem } from '../errors/parse-problem.ts';

/** Settings to bake into a bundle: the data file's exact text (rendered by the chart from values, or given). */
export interface BakedSettings {
  /** Where they come from, for messages (`chart values my-values.yaml`, a file name). */
  readonly label: string;
  /** The data document's exact text: `{"kubiya": {"settings": {...}}}`. */
  readonly dataText: string;
}

/** Settings that cannot be baked: the text is not JSON or has no kubiya.settings object (POLICY_SETTINGS_INVALID). */
export class BakeError extends Error {}

/**
 * Bakes settings into a bundle's files before it is signed (`policy build --values|--data`): the
 * bundle's `data.json` becomes the data the runner would have decided with had the same text been
 * laid over it as `policy.data` (src/policy/overlay.ts effectiveData: objects merge, the rest
 * replaces), and `.manifest`'s revision becomes the one such a runner reports
 * (`<revision>+data-<hash of the text>`), so the revision a replay, an eval and the runner print is
 * the same before and after the settings moved into the signature. `files` is changed in place;
 * returns the new data and revision. Throws BakeError.
 */
export function bakeSettings(
  files: Map<string, Uint8Array>,
  data: unknown,
  revision: string,
  settings: BakedSettings,
): { data: unknown; revision: string } {
  let overlay: unknown;
  try {
    overlay = JSON.parse(settings.dataText);
  } catch (e) {
    throw new BakeError(`${settings.label}: ${parseProblem(e)}`);
  }
  const own = settingsOf(overlay);
  if (typeof own !== 'object' || own === null || Array.isArray(own))
    throw new BakeError(`${settings.label} has no kubiya.settings object`);
  const baked = effectiveData(data, overlay);
  const bakedRevision = overlayRevision(revision, settings.dataText);
  const manifestRaw = files.get('.manifest');
  const manifest: unknown = manifestRaw === undefined ? {} : JSON.parse(Buffer.from(manifestRaw).toString('utf8'));
  files.set('.manifest', Buffer.from(JSON.stringify({ ...(manifest as object), revision: bakedRevision })));
  files.set('data.json', Buffer.from(JSON.stringify(baked)));
  return { data: baked, revision: bakedRevision };
}
