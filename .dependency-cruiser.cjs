/**
 * The folder layers of src/, top to bottom (docs/architecture.md, "Module map"). A folder imports
 * only folders of LOWER layers: never a folder above it (stages never import the orchestration)
 * and never a sibling in its own layer. So the folder graph has no cycles by construction; the
 * module graph is also checked for cycles. A new folder goes into exactly one layer here.
 */
const LAYERS = [
  ['cli'], //                                   the command line
  ['dev'], //                                   local control plane, signing, the demo
  ['app'], //                                   the composition root (the only place adapters are constructed)
  ['admission', 'reconcile', 'adapters'], //    the two paths; adapters at the edge beside them
  ['pipeline'], //                              what both paths share: deps, auditor, token check
  ['create'], //                                the create stage (through the ports)
  ['ports'], //                                 the interfaces the paths write and read through
  ['policy'], //                                replay, fixtures, settings (builds pods as a configured runner would)
  ['run', 'config', 'observe'], //              the run model; config schema; logs/metrics
  ['audit', 'pod', 'mutate', 'egress', 'watch'], // pure stages
  ['evaluate'],
  ['validate', 'receive', 'verify'],
  ['oci', 'units', 'credentials'], //           shared grammars and pattern tables
  ['errors'], //                                the closed catalogue of codes, Result
];

const ALL = LAYERS.flat();
const alt = (folders) => `^src/(${folders.join('|')})/`;

const layerRules = LAYERS.flatMap((layer, i) =>
  layer.map((folder) => {
    const above = LAYERS.slice(0, i).flat();
    const siblings = layer.filter((f) => f !== folder);
    const forbidden = [...above, ...siblings];
    return {
      name: `layer-${folder}`,
      comment: `src/${folder}/ may import only folders of lower layers (.dependency-cruiser.cjs LAYERS)`,
      severity: 'error',
      from: { path: `^src/${folder}/` },
      to: { path: forbidden.length > 0 ? alt(forbidden) : '^$' },
    };
  }),
);

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'no import cycles between modules',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'unlayered',
      comment: 'every module of src/ lives in a folder of a layer (no src/*.ts beside the folders)',
      severity: 'error',
      from: { path: '^src/', pathNot: alt(ALL) },
      to: {},
    },
    {
      name: 'unlayered-imported',
      comment: 'nothing imports a module outside every layer (a leaf that itself imports nothing, red team 8)',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^src/', pathNot: alt(ALL) },
    },
    {
      name: 'unlayered-orphan',
      comment: 'no module outside every layer, even one that imports nothing and nothing imports',
      severity: 'error',
      from: { orphan: true, path: '^src/', pathNot: alt(ALL) },
      to: {},
    },
    ...layerRules,
  ],
  options: {
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};

// For test/unit/layers.test.ts (kept off the validated config: not enumerable).
Object.defineProperty(module.exports, 'LAYERS', { value: LAYERS, enumerable: false });
