import type { HostState } from '../../src/dev/node/host-state.ts';

/** A host state with nothing in it, to build test states from (`{ ...EMPTY_HOST, sysctls: {...} }`). */
export const EMPTY_HOST: HostState = Object.freeze({
  sysctls: {},
  mounts: [],
  links: [],
  iptables: { ip: '', ip6: '' },
  nftTables: [],
  ipsets: [],
  cgroups: [],
  paths: [],
});
