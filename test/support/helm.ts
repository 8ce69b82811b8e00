/**
 * The arguments of `helm install` or `helm upgrade` of `release` from `chart` into `namespace`,
 * each of `values` as one `--set`; an upgrade reuses the release's values (`--reuse-values`).
 */
export function releaseArgs(
  verb: 'install' | 'upgrade',
  release: string,
  chart: string,
  namespace: string,
  values: readonly string[],
): string[] {
  return [
    verb,
    release,
    chart,
    '--namespace',
    namespace,
    ...(verb === 'upgrade' ? ['--reuse-values'] : []),
    ...values.flatMap((v) => ['--set', v]),
  ];
}
